"""What one client may ask of a daemon: message size, calls at once, calls a second.

Every gRPC server (`rpc.create_server`) applies these; a daemon reads them from
its properties at start (`configure`), so `-D` or the cluster's properties
change them. The defaults are far above anything a lab job does; they are
there so that one hostile or broken client cannot take a daemon's threads or
memory from everybody else:

    ipc.maximum.data.length                       largest request message, bytes (Hadoop's key; 64m here)
    ipc.server.max.concurrent.calls.per.client    calls (streams included) one client may have open at once;
                                                  0 (the default) = half the server's handler threads, so
                                                  one client never holds them all
    ipc.server.max.call.rate.per.client           calls a second one client may start, sustained (the same
                                                  number again may come at once); 0 = no limit

A client is one connection (one gRPC channel, `context.peer()`). A refused
call ends with RESOURCE_EXHAUSTED and a message naming the limit, which the
client prints as one line (`emrlab: ...`); the client's other calls, and other
clients, go on. A message over the size limit is refused by gRPC itself, also
with RESOURCE_EXHAUSTED ("Received message larger than max").
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import grpc

from emrlab_common.config import MiB, load, parse_float, parse_int, parse_size, setting

CLIENTS_TRACKED_MAX = 4096  # past this many, idle clients are forgotten (their bucket was full anyway)
IDLE_FORGET_S = 60.0


@dataclass(frozen=True)
class RpcLimits:
    message_bytes_max: int = setting("ipc.maximum.data.length", 64 * MiB, parse_size,
                                     "Largest request message a server accepts (Hadoop's default is 128m).")
    calls_per_client_max: int = setting("ipc.server.max.concurrent.calls.per.client", 0, parse_int,
                                        "Calls, streams included, one client may have open at once; "
                                        "0: half the server's handler threads.")
    call_rate_per_client: float = setting("ipc.server.max.call.rate.per.client", 5000.0, parse_float,
                                          "Calls a second one client may start, sustained; 0 means no limit.")


_limits = RpcLimits()


def configure(properties: dict[str, str]) -> RpcLimits:
    """Read this process's limits from its properties (a bad value is one clear error)."""
    global _limits
    _limits = load(RpcLimits, properties)
    return _limits


def current() -> RpcLimits:
    return _limits


@dataclass
class _Client:
    in_flight: int
    tokens: float
    seen_s: float


class ClientLimiter:
    """The bookkeeping, apart from gRPC: `enter` says why a call may not start (or None), `leave` ends one."""

    def __init__(self, limits: RpcLimits, threads_max: int = 32):
        self.limits = limits
        self.calls_max = limits.calls_per_client_max or max(1, threads_max // 2)
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def enter(self, client: str, now_s: float) -> str | None:
        limits = self.limits
        burst = max(1.0, limits.call_rate_per_client)
        with self._lock:
            state = self._clients.get(client)
            if state is None:
                self._forget_idle(now_s)
                state = self._clients[client] = _Client(0, burst, now_s)
            if limits.call_rate_per_client > 0:
                state.tokens = min(burst, state.tokens + (now_s - state.seen_s) * limits.call_rate_per_client)
            state.seen_s = now_s
            if state.in_flight >= self.calls_max:
                return (f"too many calls at once from this client ({state.in_flight} open; "
                        f"ipc.server.max.concurrent.calls.per.client={self.calls_max})")
            if limits.call_rate_per_client > 0:
                if state.tokens < 1.0:
                    return (f"too many calls from this client (more than {limits.call_rate_per_client:g} a second; "
                            "ipc.server.max.call.rate.per.client): slow down")
                state.tokens -= 1.0
            state.in_flight += 1
            return None

    def leave(self, client: str) -> None:
        with self._lock:
            state = self._clients.get(client)
            if state is not None:
                state.in_flight -= 1

    def _forget_idle(self, now_s: float) -> None:
        if len(self._clients) < CLIENTS_TRACKED_MAX:
            return
        for client, state in list(self._clients.items()):
            if state.in_flight == 0 and now_s - state.seen_s > IDLE_FORGET_S:
                del self._clients[client]

    def clients(self) -> int:
        with self._lock:
            return len(self._clients)


class LimitsInterceptor(grpc.ServerInterceptor):
    """Wraps every method of a server so that each call passes `ClientLimiter.enter` first."""

    def __init__(self, limits: RpcLimits, threads_max: int, clock=time.monotonic):
        self.limiter = ClientLimiter(limits, threads_max)
        self._clock = clock

    @contextlib.contextmanager
    def _admitted(self, context: grpc.ServicerContext):
        client = context.peer()
        refusal = self.limiter.enter(client, self._clock())
        if refusal is not None:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, refusal)
        try:
            yield
        finally:
            self.limiter.leave(client)

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        admitted = self._admitted

        def once(behavior):
            def limited(request, context):
                with admitted(context):
                    return behavior(request, context)
            return limited

        def streaming(behavior):
            def limited(request, context):
                with admitted(context):  # open until the last response is sent
                    yield from behavior(request, context)
            return limited

        serializers = {"request_deserializer": handler.request_deserializer,
                       "response_serializer": handler.response_serializer}
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(once(handler.unary_unary), **serializers)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(streaming(handler.unary_stream), **serializers)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(once(handler.stream_unary), **serializers)
        return grpc.stream_stream_rpc_method_handler(streaming(handler.stream_stream), **serializers)
