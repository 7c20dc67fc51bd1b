"""gRPC plumbing: one way to serve, one way to call.

Servers: `create_server(address, register)` binds (port 0 picks a free port,
which is how tests and clusters share one machine) and returns the bound port;
each applies `emrlab_common.limits` to every client (message size, calls at
once, calls a second).
Servicer methods are thin; `@servicer_method` turns an `EmrlabError` raised
inside into a gRPC status with the error's class name in trailing metadata.

Clients: `call(stub.Method, request)` always carries a deadline and the caller's
user name, retries only when asked (idempotent calls), and raises the server's
own `EmrlabError` class again. `stream(...)` does the same for server streams.

In secure mode (hadoop.rpc.protection=privacy) both sides use mutual TLS with
the cluster's CA; `emrlab_common.tls` says which certificate a process shows.

Identity is Hadoop's "simple" mode: the client says who it is in call metadata
(`HADOOP_USER_NAME`, else the OS user), and the server believes it.
"""

from __future__ import annotations

import functools
import getpass
import inspect
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc

from emrlab_common import limits, tls
from emrlab_common.errors import (
    ERROR_CLASS_METADATA_KEY,
    DeadlineExceeded,
    EmrlabError,
    Unavailable,
    error_from_status,
)

logger = logging.getLogger(__name__)

USER_METADATA_KEY = "emrlab-user"
DEFAULT_DEADLINE_S = 30.0
MESSAGE_BYTES_MAX = 64 << 20
SERVER_THREADS_MAX = 32
ERROR_MESSAGE_CHARACTERS_MAX = 4000  # an error travels in metadata, which gRPC caps at 16 KiB (8 KiB by default)
RETRY_BACKOFF_S = 0.2

_OPTIONS = [
    ("grpc.max_send_message_length", MESSAGE_BYTES_MAX),
    ("grpc.max_receive_message_length", MESSAGE_BYTES_MAX),
    # Loopback clusters restart daemons on new ports; do not linger on a dead one.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def current_user() -> str:
    """Who the caller is, in Hadoop's simple mode."""
    return os.environ.get("HADOOP_USER_NAME") or getpass.getuser()


def create_server(
    address: str,
    register: Callable[[grpc.Server], None],
    *,
    threads_max: int = SERVER_THREADS_MAX,
    name: str = "rpc",
) -> tuple[grpc.Server, int]:
    """Start a server on `address` ("127.0.0.1:0" for any free port); returns it and its port."""
    rpc_limits = limits.current()  # per client: message size, calls at once, calls a second
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads_max, thread_name_prefix=name),
        options=[*(option for option in _OPTIONS if option[0] != "grpc.max_receive_message_length"),
                 ("grpc.max_receive_message_length", rpc_limits.message_bytes_max)],
        interceptors=[limits.LimitsInterceptor(rpc_limits, threads_max)],
    )
    register(server)
    credentials = tls.server_credentials()  # secure mode: mutual TLS with the cluster CA
    try:
        port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise Unavailable(f"cannot listen on {address}")
    server.start()
    return server, port


def connect(address: str) -> grpc.Channel:
    """A channel to `address`; channels are thread-safe, keep one per peer. TLS in secure mode (`tls`)."""
    credentials = tls.channel_credentials(address)
    if credentials is not None:
        return grpc.secure_channel(address, credentials, options=_OPTIONS)
    return grpc.insecure_channel(address, options=_OPTIONS)


def caller_user(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata():
        if key == USER_METADATA_KEY:
            return value
    return "nobody"


def servicer_method(method):
    """Map operating errors raised by a servicer method to gRPC statuses."""

    def abort(context, error: EmrlabError):
        context.set_trailing_metadata(((ERROR_CLASS_METADATA_KEY, type(error).__name__),))
        message = error.message
        if len(message) > ERROR_MESSAGE_CHARACTERS_MAX:
            message = f"{message[:ERROR_MESSAGE_CHARACTERS_MAX - 40]}... ({len(message)} characters in all)"
        context.abort(error.status, message)

    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def streaming(self, request, context):
            try:
                yield from method(self, request, context)
            except EmrlabError as error:
                abort(context, error)

        return streaming

    @functools.wraps(method)
    def unary(self, request, context):
        try:
            return method(self, request, context)
        except EmrlabError as error:
            abort(context, error)

    return unary


def translate(error: grpc.RpcError, peer: str = "") -> EmrlabError:
    """The `EmrlabError` a failed call stands for."""
    code = error.code()
    details = error.details() or code.name
    class_name = None
    for key, value in error.trailing_metadata() or ():
        if key == ERROR_CLASS_METADATA_KEY:
            class_name = value
    if class_name is None and code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(f"cannot reach {peer or 'the daemon'}: is the cluster up? ({details})")
    if class_name is None and code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(f"{peer or 'the daemon'} did not answer in time")
    return error_from_status(code, details, class_name)


def metadata_for(user: str | None = None) -> tuple[tuple[str, str], ...]:
    """Call metadata naming the caller; `call` and `stream` add it themselves."""
    return ((USER_METADATA_KEY, user or current_user()),)


def call(
    method,
    request,
    *,
    timeout_s: float = DEFAULT_DEADLINE_S,
    user: str | None = None,
    attempts_max: int = 1,
    peer: str = "",
    metadata: tuple[tuple[str, str], ...] = (),
):
    """Call a unary method with a deadline; retry on UNAVAILABLE only if `attempts_max` > 1.

    Only idempotent calls should pass `attempts_max` > 1: a retried call may
    have taken effect the first time.
    """
    assert attempts_max >= 1
    for attempt in range(1, attempts_max + 1):
        try:
            return method(request, timeout=timeout_s, metadata=metadata_for(user) + metadata)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE and attempt < attempts_max:
                time.sleep(RETRY_BACKOFF_S * attempt)
                continue
            raise translate(error, peer) from None
    raise AssertionError("unreachable")


def stream(method, request, *, timeout_s: float = DEFAULT_DEADLINE_S, user: str | None = None, peer: str = "",
           metadata: tuple[tuple[str, str], ...] = ()) -> Iterator:
    """Iterate a server-streaming call, raising operating errors as `EmrlabError`."""
    try:
        yield from method(request, timeout=timeout_s, metadata=metadata_for(user) + metadata)
    except grpc.RpcError as error:
        raise translate(error, peer) from None

