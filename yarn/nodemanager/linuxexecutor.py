"""Whose a container is, which OS account it runs as, and the directories only that account can read.

Hadoop's two executors, by `yarn.nodemanager.container-executor.class`:

  DefaultContainerExecutor   (the lab default) every container runs as the NodeManager's own account.
  LinuxContainerExecutor     (`emrlab cluster up --secure`) each container runs as its user's OS account
                             (an account of the same name on the node), as Hadoop's setuid
                             `container-executor` starts it; the NodeManager (root) passes the uid, gid
                             and groups to the child it starts.

Whose a container is: in token mode (`hadoop.security.authentication=token`) the user of the delegation
token in its launch context, checked with the cluster key (a launch cannot name a user it has no token
for); in simple mode the user the launch names. Under LinuxContainerExecutor in simple mode, with
`...nonsecure-mode.limit-users` (Hadoop's default), every container runs as `...nonsecure-mode.local-user`.

Before it runs, container-executor.cfg's checks (`refusal`): never root, never an account in
`banned.users`, never one below `min.user.id` unless `allowed.system.users` names it, and never a user
with no account. A refused container ends at once with the reason as its diagnostics (so on its
application's, for an ApplicationMaster).

The directories it gets, owned by its account and the NodeManager's group (Hadoop's modes); the
NodeManager, root here, reads map output in them for the shuffle and the logs for `emrlab logs`:

    nm-local-dir/usercache/<user>/                         0750
    nm-local-dir/usercache/<user>/appcache/                0710
    nm-local-dir/usercache/<user>/appcache/<app>/          0710   filecache/ and map output in it
    nm-local-dir/usercache/<user>/appcache/<app>/<container>/  0710   its working dir; tmp/ 0700 is its TMPDIR
    userlogs/<app>/  and  userlogs/<app>/<container>/      0710   stdout, stderr: the container's
    <container>/container_tokens                           0600   its delegation token ($HADOOP_TOKEN_FILE_LOCATION)
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from emrlab_common.credentials import check_mode, ensure_key, verify
from emrlab_common.errors import InvalidArgument, PermissionDenied
from yarn.nodemanager.config import NodeManagerConfig
from yarn.records import ContainerLaunchContext

HADOOP_PACKAGE = "org.apache.hadoop.yarn.server.nodemanager."
EXECUTORS = ("DefaultContainerExecutor", "LinuxContainerExecutor")
TOKEN_FILE_NAME = "container_tokens"  # Hadoop's name for a container's token file
USER_DIR_MODE = 0o750
APPLICATION_DIR_MODE = 0o710  # appcache/, the application's dir, its containers' dirs, their log dirs
PRIVATE_MODE = 0o700
CONTAINER_UMASK = 0o027  # container-executor's
ACCOUNT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")  # what useradd accepts (no "/", no "..")


@dataclass(frozen=True)
class Account:
    """An OS account a container runs as, and the group the NodeManager shares its directories with."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    daemon_gid: int

    @classmethod
    def named(cls, name: str) -> Account:
        """The account of this name; KeyError if the node has none."""
        entry = pwd.getpwnam(name)
        groups = tuple(group.gr_gid for group in grp.getgrall() if name in group.gr_mem and group.gr_gid != entry.pw_gid)
        return cls(name, entry.pw_uid, entry.pw_gid, groups, os.getgid())


def executor_name(configured: str) -> str:
    """The executor's short name; Hadoop's full class names are accepted too."""
    name = configured.removeprefix(HADOOP_PACKAGE)
    if name not in EXECUTORS:
        raise InvalidArgument(f"yarn.nodemanager.container-executor.class={configured!r}: use "
                              f"{' or '.join(EXECUTORS)} (or {HADOOP_PACKAGE}<one of them>)")
    return name


def refusal(name: str, uid: int, min_user_id: int, banned: set[str], allowed: set[str]) -> str:
    """Why container-executor would not run a container as this account ("" if it would); its messages."""
    if uid == 0 or name == "root":
        return "Running as root is not allowed"
    if name in banned:
        return f"Requested user {name} is banned (banned.users)"
    if uid < min_user_id and name not in allowed:
        return (f"Requested user {name} is not whitelisted and has id {uid}, which is below the minimum "
                f"allowed {min_user_id} (min.user.id)")
    return ""


def _names(text: str) -> set[str]:
    return {name.strip() for name in text.split(",") if name.strip()}


class ContainerUsers:
    """The NodeManager's answer to "whose is this container, and may it run as that account?"."""

    def __init__(self, config: NodeManagerConfig, cluster_root: Path):
        self.config = config
        self.executor = executor_name(config.container_executor)
        self.token_mode = check_mode(config.authentication) == "token"
        self._key = ensure_key(cluster_root) if self.token_mode else None

    @property
    def isolated(self) -> bool:
        return self.executor == "LinuxContainerExecutor"

    @property
    def cluster_key(self) -> bytes | None:
        """In token mode, what ApplicationMasters' proofs are checked with (`yarn.resourcemanager.acls`)."""
        return self._key

    def resolve(self, context: ContainerLaunchContext, named_user: str) -> tuple[str, str]:
        """(the container's user, why it may not run: "" if it may)."""
        user = named_user
        if self.token_mode:
            if not context.tokens:
                return user, ("secure mode (hadoop.security.authentication=token): the launch context has no "
                              "delegation token, so whose container it is is unknown")
            try:
                user = verify(self._key, context.tokens, "delegation")
            except PermissionDenied as error:
                return user, f"the launch context's delegation token is refused: {error.message}"
        if not self.isolated:
            return user, ""
        if not ACCOUNT_NAME.fullmatch(user):  # it names directories (usercache/<user>) as well as an account
            return user, f"Invalid user name {user!r}"
        name = self.account_name(user)
        try:
            account = Account.named(name)
        except KeyError:
            return user, (f"User {name} not found: this node has no OS account {name} to run the container as "
                          "(LinuxContainerExecutor runs each container as its user's account)")
        reason = refusal(name, account.uid, self.config.min_user_id, _names(self.config.banned_users),
                         _names(self.config.allowed_system_users))
        return user, f"cannot run the container as {name}: {reason}" if reason else ""

    def account_name(self, user: str) -> str:
        if not self.token_mode and self.config.nonsecure_limit_users:
            return self.config.nonsecure_local_user
        return user

    def account(self, user: str) -> Account | None:
        """The account `user`'s containers run as; None: the NodeManager's own (DefaultContainerExecutor)."""
        return Account.named(self.account_name(user)) if self.isolated else None


# ---------------------------------------------------------------- directories and files it owns

def make_owned_dirs(base: Path, parts: list[tuple[str, int]], account: Account | None) -> Path:
    """`base`/part/part/...: each part made if missing, with its mode and owned by `account` (with None, as
    any directory the NodeManager makes); returns the last."""
    path = base
    for part, mode in parts:
        path = path / part
        path.mkdir(parents=True, exist_ok=True)
        if account is not None:
            os.chown(path, account.uid, account.daemon_gid)
            os.chmod(path, mode)
    return path


def give(path: Path, account: Account | None, mode: int | None = None) -> None:
    """A file the NodeManager made for a container becomes the container's."""
    if account is None:
        return
    os.chown(path, account.uid, account.daemon_gid)
    if mode is not None:
        os.chmod(path, mode)


def give_tree(root: Path, account: Account | None) -> None:
    """Everything under `root` (files the localizer downloaded) becomes the container's account's."""
    if account is None or not root.exists():
        return
    for directory, directories, files in os.walk(root):
        for name in [*directories, *files]:
            try:
                os.chown(Path(directory) / name, account.uid, account.daemon_gid, follow_symlinks=False)
            except FileNotFoundError:  # a .partial renamed under us by another localization
                continue
    os.chown(root, account.uid, account.daemon_gid)


def write_token_file(path: Path, token: str, account: Account | None) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(token)
    give(path, account, 0o600)


def make_container_dirs(paths, account: Account | None) -> None:
    """The container's working dir (with its parents up to usercache/) and log dir, as the table above."""
    work_dir, log_dir = paths.work_dir, paths.log_dir
    application_dir, user_dir = work_dir.parent, work_dir.parents[2]  # .../usercache/<user>/appcache/<app>/<c>
    make_owned_dirs(user_dir.parent, [(user_dir.name, USER_DIR_MODE), ("appcache", APPLICATION_DIR_MODE),
                                      (application_dir.name, APPLICATION_DIR_MODE),
                                      (work_dir.name, APPLICATION_DIR_MODE)], account)
    make_owned_dirs(log_dir.parents[1], [(log_dir.parent.name, APPLICATION_DIR_MODE),
                                         (log_dir.name, APPLICATION_DIR_MODE)], account)
    if account is not None:
        make_owned_dirs(work_dir, [("tmp", PRIVATE_MODE)], account)


READ, SEARCH = 0o004, 0o001  # what other accounts need on a path: read it, enter (or run) it


def container_needs(cluster_root: Path, *directories: Path) -> list[tuple[Path, int]]:
    """What a container running as another account must reach, with the bits it needs there: Python, the
    directories it imports from (listed, so readable), the cluster's spec, and `directories`."""
    import grpc

    return [(Path(sys.executable).resolve(), SEARCH), (Path(os.__file__).parent, READ | SEARCH),
            (Path(grpc.__file__).parents[1], READ | SEARCH), (Path(__file__).resolve().parents[2], READ | SEARCH),
            (cluster_root / "cluster.json", READ), *((directory, SEARCH) for directory in directories)]


def reachable_problem(cluster_root: Path, *directories: Path) -> str:
    """What another account could not reach of `container_needs`, or ""."""
    return unreachable(container_needs(cluster_root, *directories))


def unreachable(needs: list[tuple[Path, int]]) -> str:
    """Why another account could not reach a path (every directory above it searchable, the bits it needs on it
    there), or ""."""
    for path, bits in needs:
        for directory in [*reversed(path.parents), path]:
            try:
                mode = directory.stat().st_mode
            except OSError:
                break  # not made yet: its parent decides
            needed = bits if directory == path else SEARCH
            if mode & needed != needed:
                what = "read" if needed & READ else "enter" if directory.is_dir() else "run"
                return (f"{directory} is mode {mode & 0o777:04o}: other accounts cannot {what} it, and containers "
                        f"need {path}")
    return ""
