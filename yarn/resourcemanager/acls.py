"""Who may see and change an application: Hadoop's YARN ACLs, as pure checks.

With `yarn.acl.enable` (on by default in token mode here) the ResourceManager asks three questions:

    is the caller an admin?           `yarn.admin.acl` (default: the cluster's owner, the RM's own user)
    may the caller do OP on app X?     its owner, an admin, or a user in the application's ACL for OP
    may the caller submit to queue Q?  an admin, or a user in Q's acl_submit_applications (a queue not
                                       named: everyone, as Hadoop's root queue's "*")

An application's ACLs come with its AM's launch context (Hadoop's ContainerLaunchContext
applicationACLs): VIEW_APP and MODIFY_APP; a MapReduce job sets them from `mapreduce.job.acl-view-job`
and `mapreduce.job.acl-modify-job`. An ACL is Hadoop's text: "alice,bob analysts" (users, a space,
groups), "*" for everyone, "" or " " for no one besides the owner and the admins.

A refusal is Hadoop's one line: "User bob cannot perform operation MODIFY_APP on application_...".
A caller who may not VIEW an application still sees it listed, without its diagnostics, tracking URL,
AM address and AM container (Hadoop's report says "N/A" for each).

The ApplicationMaster's own client endpoints (job status, kill) cannot read the cluster key (the AM runs
as its user), so, as Hadoop's ClientToAMTokens: the RM gives each AM it launches in token mode a key of
its own (derived from the cluster key and the application id), and gives a caller who may VIEW the
application, with its report, a short-lived statement naming the caller signed with that key. The AM
believes the name in it, and checks its job's ACLs itself. The AM proves itself to the RM with the same
key (Hadoop's AMRMToken): its register, allocate and finish calls carry a statement naming its attempt, of
another kind, so no client's token passes for one; and to NodeManagers when it starts or stops its
containers (Hadoop's NMToken), with a statement naming its application.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from emrlab_common.credentials import PROOF_LIFETIME_S, sign, verify
from emrlab_common.errors import InvalidArgument, PermissionDenied
from yarn.records import ApplicationReport

VIEW_APP, MODIFY_APP = "VIEW_APP", "MODIFY_APP"
UNAVAILABLE = "N/A"  # what Hadoop's report says in place of what the caller may not see
CLIENT_TO_AM = "client-to-am"  # the kind of statement (emrlab_common.credentials) an AM accepts from clients
CLIENT_TO_AM_METADATA_KEY = "emrlab-client-to-am-token"  # where a client puts it in a call to the AM
CLIENT_TO_AM_KEY_ENVIRONMENT_VARIABLE = "EMRLAB_CLIENT_TO_AM_KEY"  # token mode: the AM's key, hex, set by the RM
AMRM = "amrm"  # the kind of statement an AM signs with that key for the RM's ApplicationMasterProtocol
NM = "nm"  # ... and for NodeManagers' ContainerManagementProtocol
AM_PROOF_METADATA_KEY = "emrlab-am-proof"
NO_GROUPS: Callable[[str], frozenset[str]] = lambda user: frozenset()


@dataclass(frozen=True)
class AccessControlList:
    """Hadoop's AccessControlList: users and groups, or everyone ("*")."""

    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    everyone: bool = False

    @classmethod
    def parse(cls, text: str) -> AccessControlList:
        if text.strip() == "*":
            return cls(everyone=True)
        users, _, groups = text.strip("\n").partition(" ")
        return cls(frozenset(_names(users)), frozenset(_names(groups)))

    def allows(self, user: str, groups: frozenset[str]) -> bool:
        return self.everyone or user in self.users or bool(self.groups & groups)


def parse_queue_acls(text: str) -> dict[str, AccessControlList]:
    """"queue=ACL;queue=ACL" (ACLs hold commas and spaces, so ";" between queues)."""
    acls = {}
    for part in (part for part in text.split(";") if part.strip()):
        queue, equals, acl = part.partition("=")
        if not equals or not queue.strip():
            raise InvalidArgument(f"queue ACL {part.strip()!r}: use queue=users groups;queue=... "
                                  "(emrlab.scheduler.acl-submit-applications)")
        acls[queue.strip()] = AccessControlList.parse(acl)
    return acls


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


class ApplicationAccess:
    """The checks, for one RM: whether ACLs are on, who the admins are, and how a user's groups are found."""

    def __init__(self, enabled: bool, admin_acl: str, groups_of: Callable[[str], frozenset[str]] = NO_GROUPS,
                 queue_submit_acls: str = ""):
        self.enabled = enabled
        self.admins = AccessControlList.parse(admin_acl)
        self.groups_of = groups_of
        self.queue_submit_acls = parse_queue_acls(queue_submit_acls)

    def require_submit(self, user: str, queue: str, application_id: str) -> None:
        acl = self.queue_submit_acls.get(queue)
        if acl is not None and not self.is_admin(user) and not acl.allows(user, self.groups_of(user)):
            raise PermissionDenied(f"User {user} does not have permission to submit {application_id} to queue {queue}")

    def is_admin(self, user: str) -> bool:
        return not self.enabled or self.admins.allows(user, self.groups_of(user))

    def require_admin(self, user: str, method: str) -> None:
        if not self.is_admin(user):
            raise PermissionDenied(f"User {user} doesn't have permission to call '{method}' (yarn.admin.acl)")

    def allows(self, user: str, operation: str, owner: str, acls: dict[str, str]) -> bool:
        if not self.enabled or user == owner or self.is_admin(user):
            return True
        return AccessControlList.parse(acls.get(operation, "")).allows(user, self.groups_of(user))

    def require(self, user: str, operation: str, owner: str, acls: dict[str, str], application_id: str) -> None:
        if not self.allows(user, operation, owner, acls):
            raise PermissionDenied(f"User {user} cannot perform operation {operation} on {application_id}")

    def visible(self, user: str, report: ApplicationReport, acls: dict[str, str]) -> ApplicationReport:
        """The report as `user` may see it: whole, or without what only VIEW_APP shows."""
        if self.allows(user, VIEW_APP, report.user, acls):
            return report
        return dataclasses.replace(report, diagnostics=UNAVAILABLE, tracking_url="", host="", rpc_port=0,
                                   am_container_id="", am_node_id="")  # the CLI prints N/A for each


def client_to_am_key(cluster_key: bytes, application_id: str) -> bytes:
    """The key of one application's AM: it proves nothing about any other application, or the cluster."""
    return hmac.new(cluster_key, f"{CLIENT_TO_AM}:{application_id}".encode(), hashlib.sha256).digest()


def client_to_am_token(cluster_key: bytes, application_id: str, user: str, now_s: float) -> str:
    return sign(client_to_am_key(cluster_key, application_id), CLIENT_TO_AM, user, now_s + PROOF_LIFETIME_S)


def client_to_am_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Call metadata for an AM: the token from the caller's application report (none in simple mode)."""
    return ((CLIENT_TO_AM_METADATA_KEY, token),) if token else ()


def client_to_am_caller(key: bytes, metadata) -> str:
    """The AM's side: the user a call's client-to-AM token names, or PermissionDenied."""
    token = next((value for name, value in metadata if name == CLIENT_TO_AM_METADATA_KEY), "")
    if not token:
        raise PermissionDenied("secure mode: the call has no client-to-AM token (the ResourceManager gives one, "
                               "with the application's report, to users who may view the application)")
    return verify(key, token, CLIENT_TO_AM)


def am_proof_metadata(kind: str, name: str, environment=None) -> tuple[tuple[str, str], ...]:
    """The AM's side: call metadata proving it is the AM of `name` (an attempt for AMRM, an application
    for NM), signed with its application's key; none in simple mode (no key in the environment)."""
    key_hex = (os.environ if environment is None else environment).get(CLIENT_TO_AM_KEY_ENVIRONMENT_VARIABLE, "")
    if not key_hex:
        return ()
    return ((AM_PROOF_METADATA_KEY, sign(bytes.fromhex(key_hex), kind, name, time.time() + PROOF_LIFETIME_S)),)


def amrm_metadata(attempt_id: str, environment=None) -> tuple[tuple[str, str], ...]:
    return am_proof_metadata(AMRM, attempt_id, environment)


def verify_am_proof(cluster_key: bytes, metadata, kind: str, name: str, application_id: str) -> None:
    """The RM's or a NodeManager's side: PermissionDenied unless the call proves it is from `name`'s AM."""
    proof = next((value for key, value in metadata if key == AM_PROOF_METADATA_KEY), "")
    if not proof:
        raise PermissionDenied(f"secure mode: the call for {name} has no proof that it is from its "
                               "ApplicationMaster (the key the ResourceManager gave it)")
    proven = verify(client_to_am_key(cluster_key, application_id), proof, kind)
    if proven != name:
        raise PermissionDenied(f"the ApplicationMaster's proof names {proven}, not {name}")


def verify_amrm(cluster_key: bytes, metadata, attempt_id: str, application_id: str) -> None:
    verify_am_proof(cluster_key, metadata, AMRM, attempt_id, application_id)
