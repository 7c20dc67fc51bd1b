"""The HTTP side of every daemon: web pages, their JSON twins, `/jmx`, WebHDFS.

Hadoop's daemons each serve HTTP next to their RPC port (the NameNode's page
on 9870, the ResourceManager's on 8088); here each binds its HTTP address like
its gRPC one (port 0 by default, a Hadoop key such as dfs.namenode.http-address
to pin it) and publishes it in its record in the cluster directory as
`http_address`. The standard library's threaded server is enough: one thread a
request, pages are small, and no dependency has to be installed or trusted.

    from emrlab_common import web

    def status(request: web.Request) -> web.Response:
        return web.json_response({"state": "RUNNING"})

    def jmx(request: web.Request) -> web.Response:
        return web.jmx_response(request, [{"name": "Hadoop:service=Thing,name=Info", "Answer": 42}])

    server, port = web.start_http_server("127.0.0.1:0", {"/status": status, "/jmx": jmx}, name="thing")
    process.publish(address, http_address=f"127.0.0.1:{port}")
    ...
    server.stop()

Routes map a path to a handler; a route ending in "/" also takes every path
under it (WebHDFS takes "/webhdfs/v1/"). A handler gets a `Request` and returns
a `Response` whose body is bytes or an iterator of byte chunks; an iterator is
sent with chunked transfer encoding as it is produced, so big files stream
through in bounded memory. `page(...)` wraps HTML in the shared look (inline
CSS, no scripts or assets from anywhere: pages work offline) and can refresh
itself; `table`, `link`, `progress_bar` and `escape` build its parts (cells are
escaped unless they are `Markup`). `cluster_urls(cluster_dir)` lists the running
daemons' web addresses. A server serves at most `CONNECTIONS_MAX` connections at
once, one thread each; a connection idle for `SOCKET_TIMEOUT_S` is closed.
In secure mode (dfs.http.policy=HTTPS_ONLY) every server speaks HTTPS only and
closes a connection whose client shows no certificate from the cluster CA.
"""

from __future__ import annotations

import html
import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from emrlab_common import tls

logger = logging.getLogger(__name__)

CHUNK_LINE_BYTES_MAX = 1024
SHUTDOWN_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 120.0
CONNECTIONS_MAX = 64
CONNECTION_WAIT_S = 10.0  # a connection beyond the limit waits this long for a free thread, then is closed


class RequestBody:
    """The request's body as a stream: by Content-Length, or chunked transfer encoding decoded as it comes."""

    def __init__(self, stream, headers):
        self._stream = stream
        self._chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        self._remaining = 0 if self._chunked else int(headers.get("Content-Length") or 0)
        self._done = not self._chunked and self._remaining == 0

    def read(self, size_bytes: int = 1 << 20) -> bytes:
        """Up to `size_bytes` bytes; b"" at the end of the body."""
        if self._done:
            return b""
        if self._remaining == 0:  # chunked: read the next chunk's size line
            line = self._stream.readline(CHUNK_LINE_BYTES_MAX)
            try:
                self._remaining = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                raise ConnectionError(f"malformed chunk size line {line[:40]!r}") from None
            if self._remaining == 0:
                while self._stream.readline(CHUNK_LINE_BYTES_MAX) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return b""
        data = self._stream.read(min(size_bytes, self._remaining))
        if not data:
            raise ConnectionError("the client closed the connection in the middle of the body")
        self._remaining -= len(data)
        if self._remaining == 0:
            if self._chunked:
                self._stream.readline(CHUNK_LINE_BYTES_MAX)  # the CRLF after a chunk
            else:
                self._done = True
        return data

    def drain(self) -> None:
        while self.read():
            pass


@dataclass
class Request:
    method: str
    path: str                 # decoded, without the query
    query: dict[str, str]     # parameter names lower-cased, as Hadoop's WebHDFS matches them
    headers: object           # http.client.HTTPMessage
    body: RequestBody
    host: str                 # the Host header: where the client reached us
    client_name: str = ""     # HTTPS: the common name of the client's certificate (the cluster CA signed it)


@dataclass
class Response:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


def json_response(value, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(value, indent=1, sort_keys=False).encode() + b"\n"
    return Response(status, body, "application/json", headers or {})


def html_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode(), "text/html; charset=utf-8")


def redirect(location: str, status: int = 307) -> Response:
    return Response(status, b"", "application/octet-stream", {"Location": location})


def jmx_response(request: Request, beans: list[dict]) -> Response:
    """Hadoop's /jmx: {"beans": [...]}, `?qry=NAME` keeps the bean of that name."""
    wanted = request.query.get("qry")
    return json_response({"beans": [bean for bean in beans if wanted in (None, bean.get("name"))]})


def escape(value) -> str:
    return html.escape(str(value))


def table(headings: list[str], rows: Iterable[Iterable], row_class: Callable[[list], str] | None = None) -> str:
    """An HTML table; cells are escaped unless they are `Markup`."""
    head = "".join(f"<th>{escape(heading)}</th>" for heading in headings)
    head = f"<thead><tr>{head}</tr></thead>" if any(headings) else ""
    body = []
    for row in rows:
        row = list(row)
        cells = "".join(f"<td>{cell if isinstance(cell, Markup) else escape(cell)}</td>" for cell in row)
        css = f' class="{row_class(row)}"' if row_class else ""
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


class Markup(str):
    """HTML that is already safe (built from escaped parts) and goes into a page as it is."""


def progress_bar(fraction: float) -> Markup:
    """A small horizontal bar filled to `fraction` (0.0 .. 1.0)."""
    percent = max(0.0, min(1.0, fraction)) * 100
    return Markup(f'<span class="progress"><span style="width:{percent:.0f}%"></span></span>')


def link(href: str, text) -> Markup:
    return Markup(f'<a href="{escape(href)}">{escape(text)}</a>')


STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#222}
header{background:#1f4e79;color:#fff;padding:.6em 1em}header a{color:#fff;margin-right:1.2em}
main{padding:1em}h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.1em;margin-top:1.4em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#eef}tr.dead td,tr.LOST td{color:#a00}tr.decommissioning td{color:#a60}
.bar{position:absolute;height:14px;border-radius:2px;opacity:.9}
.map{background:#3a7bd5}.reduce{background:#e08a1e}
.FAILED{background:repeating-linear-gradient(45deg,#c00,#c00 3px,#f66 3px,#f66 6px)}
.KILLED{background:#888}.PREEMPTED{background:repeating-linear-gradient(45deg,#777,#777 3px,#bbb 3px,#bbb 6px)}
.RUNNING{opacity:.5}
.lane{position:relative;border-bottom:1px dotted #ccc;background:#fafafa}
.progress{display:inline-block;width:8em;height:.8em;border:1px solid #999}
.progress span{display:block;height:100%;background:#3a7bd5}
"""


def page(title: str, body: str, nav: list[tuple[str, str]] = (), refresh_s: float | None = None) -> Response:
    """An HTML page in the shared look; `refresh_s` makes the browser reload it (pages of running jobs)."""
    refresh = f'<meta http-equiv="refresh" content="{refresh_s:g}">' if refresh_s else ""
    links = "".join(f'<a href="{escape(href)}">{escape(text)}</a>' for href, text in nav)
    return html_response(
        f"<!DOCTYPE html><html><head><meta charset=\"utf-8\">{refresh}<title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><header>{links}</header><main><h1>{escape(title)}</h1>"
        f"{body}</main></body></html>")


# ---------------------------------------------------------------- the server

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "emrlab"
    timeout = SOCKET_TIMEOUT_S  # a client silent this long loses its connection (and its thread)
    routes: ClassVar[dict[str, Handler]] = {}  # each server's subclass sets its own

    def do_GET(self):
        self._serve()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _route(self, path: str) -> Handler | None:
        if path in self.routes:
            return self.routes[path]
        prefixes = [prefix for prefix in self.routes if prefix.endswith("/") and path.startswith(prefix)]
        return self.routes[max(prefixes, key=len)] if prefixes else None

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {name.lower(): value for name, value in parse_qsl(parts.query, keep_blank_values=True)}
        body = RequestBody(self.rfile, self.headers)
        request = Request(self.command, path, query, self.headers, body, self.headers.get("Host", ""),
                          _certificate_name(self.connection))
        handler = self._route(path)
        try:
            response = handler(request) if handler else Response(404, f"no page at {path}\n".encode())
        except ConnectionError as error:  # the request's body broke off or was malformed
            logger.info("%s %s: bad request body (%s)", self.command, self.path, error)
            response = Response(400, f"bad request body: {error}\n".encode(), headers={"Connection": "close"})
            self.close_connection = True
        except Exception as error:
            logger.exception("%s %s failed", self.command, self.path)
            response = Response(500, f"{type(error).__name__}: {error}\n".encode())
        try:
            self._send(response)
            if not self.close_connection:
                body.drain()  # keep-alive needs the whole request read, even one we did not want
        except (ConnectionError, TimeoutError) as error:
            logger.info("%s %s: client went away (%s)", self.command, self.path, error)
            self.close_connection = True
        except Exception:  # a streamed body failed half-way: the status line is already sent
            logger.exception("%s %s failed while sending", self.command, self.path)
            self.close_connection = True

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        if not self._java_reading_json(response):
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if isinstance(response.body, bytes) or self.command == "HEAD":
            body = response.body if isinstance(response.body, bytes) else b""
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            close = getattr(response.body, "close", None)
            if close:
                close()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunks: Iterator[bytes] = iter(response.body)
        try:
            for chunk in chunks:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()

    def _java_reading_json(self, response: Response) -> bool:
        """Hadoop's Java WebHdfsFileSystem checks a JSON Content-Type with JAX-RS's MediaType, which the
        shaded Hadoop client in PySpark's jars cannot load (ClassNotFoundException: ...RuntimeDelegateImpl);
        with no Content-Type it parses the body as JSON straight away. So Java clients get JSON without one."""
        return response.content_type == "application/json" and self.headers.get("User-Agent", "").startswith("Java/")

    def log_message(self, format, *args) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


def _certificate_name(connection) -> str:
    """The common name in a verified client certificate, or "" (plain HTTP)."""
    certificate = connection.getpeercert() if isinstance(connection, ssl.SSLSocket) else None
    for attribute in (certificate or {}).get("subject", ()):
        for name, value in attribute:
            if name == "commonName":
                return value
    return ""


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most CONNECTIONS_MAX of them."""

    daemon_threads = True

    def __init__(self, address, handler):
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(CONNECTIONS_MAX)
        self.ssl_context = tls.server_ssl_context()  # secure mode: HTTPS, a client certificate required

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(timeout=CONNECTION_WAIT_S):
            logger.warning("%d connections open: closing one from %s", CONNECTIONS_MAX, client_address)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            if self.ssl_context is not None:  # the handshake in this connection's thread, not the accepting one
                request.settimeout(CONNECTION_WAIT_S)
                try:
                    request = self.ssl_context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError) as error:
                    logger.info("refused %s: no TLS with a certificate from the cluster CA (%s)", client_address, error)
                    self.shutdown_request(request)
                    return
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class HttpServer:
    """A running HTTP server; `stop()` ends it and waits for its serving thread."""

    def __init__(self, server: _BoundedServer, name: str):
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"{name}-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(SHUTDOWN_TIMEOUT_S)


def start_http_server(address: str, routes: dict[str, Handler], name: str = "http") -> tuple[HttpServer, int]:
    """Serve `routes` on `address` ("host:port", port 0 = any free one); returns the server and its port."""
    host, _, port = address.rpartition(":")
    handler = type(f"{name}_handler", (_Handler,), {"routes": dict(routes)})
    server = _BoundedServer((host or "127.0.0.1", int(port)), handler)
    running = HttpServer(server, name)
    scheme = "https" if server.ssl_context else "http"
    logger.info("%s web server on %s://%s:%d/", name, scheme, host or "127.0.0.1", running.port)
    return running, running.port


MAIN_DAEMONS = ("namenode", "resourcemanager", "jobhistory", "controller")


def cluster_urls(cluster_dir, include_nodes: bool = False) -> dict[str, str]:
    """The web addresses of a cluster's running daemons, from their records in the cluster directory:
    {"namenode": "http://…", "resourcemanager": "http://…", "controller": "http://…", "webhdfs": "http://…/webhdfs/v1"}
    (only the daemons that are up). `include_nodes` adds each node's daemons ("datanode-core-1": "http://…")."""
    from emrlab_common.clusterdir import process_alive

    scheme = "https" if tls.modes(cluster_dir.properties())[1] else "http"
    urls = {}
    for record in cluster_dir.daemons():
        http_address = record.extra.get("http_address")
        wanted = include_nodes or record.name in MAIN_DAEMONS
        if http_address and wanted and process_alive(record.pid):
            urls[record.name] = f"{scheme}://{http_address}"
    if "namenode" in urls:
        urls["webhdfs"] = urls["namenode"] + "/webhdfs/v1"
    return urls
