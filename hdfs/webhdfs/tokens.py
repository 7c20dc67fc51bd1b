"""WebHDFS in token mode (hadoop.security.authentication=token): who a request is from, and the token operations.

In simple mode a request is from its `user.name` (believed, as in Hadoop). In
token mode `user.name` is not believed: a request is from the owner of its
`delegation=<token>` parameter, or, over HTTPS, from the client certificate it
showed (the cluster CA signed it for that user: the owner's `client.pem`, a
container's), as Hadoop authenticates with Kerberos/SPNEGO. Hadoop's REST
token operations:

    GET  ?op=GETDELEGATIONTOKEN                 {"Token": {"urlString": "..."}} (needs a certificate, not a token)
    PUT  ?op=RENEWDELEGATIONTOKEN&token=T       {"long": <new expiry, ms since the epoch>}
    PUT  ?op=CANCELDELEGATIONTOKEN&token=T      200, no body

A redirect to a DataNode carries the token (one is issued for a request that
came with a certificate), and the DataNode acts with it.
"""

from __future__ import annotations

from emrlab_common import web
from emrlab_common.credentials import DELEGATION_METADATA_KEY
from emrlab_common.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from hdfs.client import Client
from hdfs.webhdfs.shapes import user_of

TOKEN_OPERATIONS = {"GETDELEGATIONTOKEN", "RENEWDELEGATIONTOKEN", "CANCELDELEGATIONTOKEN"}


def token_mode(namenode) -> bool:
    return namenode.config.authentication != "simple"


def authenticated_user(namenode, request: web.Request) -> str:
    """Who the request is from (see the module's docstring); PermissionDenied if it cannot say."""
    if not token_mode(namenode):
        return user_of(request.query)
    token = request.query.get("delegation")
    if token:
        return namenode.delegation_tokens.owner(token)
    if request.client_name:
        return request.client_name.split(" ", 1)[0]  # a container's certificate says "USER CONTAINER_ID"
    raise PermissionDenied("secure mode (hadoop.security.authentication=token): user.name is not believed; "
                           "send delegation=<token>, or a client certificate from the cluster CA over HTTPS")


def handle(namenode, operation: str, request: web.Request, user: str) -> web.Response:
    """GETDELEGATIONTOKEN, RENEWDELEGATIONTOKEN, CANCELDELEGATIONTOKEN for the authenticated `user`."""
    tokens = namenode.delegation_tokens
    if tokens is None or not token_mode(namenode):
        raise FailedPrecondition("delegation tokens need hadoop.security.authentication=token")
    if operation == "GETDELEGATIONTOKEN":
        if request.query.get("delegation"):
            raise PermissionDenied("Delegation Token can be issued only with a client certificate, not with a token")
        token, _ = tokens.issue(user)
        return web.json_response({"Token": {"urlString": token}})
    token = request.query.get("token")
    if not token:
        raise InvalidArgument(f'Required param "token" for op: {operation} is null')
    if operation == "RENEWDELEGATIONTOKEN":
        return web.json_response({"long": int(tokens.renew(token, user) * 1000)})
    tokens.cancel(token, user)
    return web.Response(200)


def redirect_token(namenode, request: web.Request, user: str) -> dict[str, str]:
    """What a redirect to a DataNode carries in token mode: the request's token, else a new one for `user`."""
    if not token_mode(namenode):
        return {}
    return {"delegation": request.query.get("delegation") or namenode.delegation_tokens.issue(user)[0]}


class TokenClient(Client):
    """A DataNode's client for a redirected request: in token mode it acts with the request's token only."""

    def __init__(self, *arguments, token: str = "", **options):
        super().__init__(*arguments, **options)
        self.token = token

    def _credentials(self) -> tuple[tuple[str, str], ...]:
        if self.config.authentication == "simple":
            return ()
        if not self.token:
            raise PermissionDenied("secure mode (hadoop.security.authentication=token): a DataNode request needs "
                                   "delegation=<token> (the NameNode's redirect carries one)")
        return ((DELEGATION_METADATA_KEY, self.token),)
