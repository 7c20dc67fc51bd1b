"""The shared HTTP layer (emrlab_common.web) and WebHDFS's JSON shapes, without a cluster."""

from __future__ import annotations

import http.client
import io
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emrlab_common import web
from emrlab_common.clusterdir import ClusterDir, DaemonRecord
from emrlab_common.errors import InvalidArgument
from hdfs import errors
from hdfs.protocol import FileStatus
from hdfs.webhdfs import shapes


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts if part) + b"0\r\n\r\n"


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8), st.integers(min_value=1, max_value=64))
def test_a_chunked_body_reads_back_whole_in_reads_of_any_size(parts, read_size):
    body = web.RequestBody(io.BytesIO(chunked(parts) + b"NEXT REQUEST"), {"Transfer-Encoding": "chunked"})
    read = b""
    while data := body.read(read_size):
        assert len(data) <= read_size
        read += data
    assert read == b"".join(parts)


def test_a_body_by_content_length_stops_at_its_length():
    stream = io.BytesIO(b"helloNEXT")
    body = web.RequestBody(stream, {"Content-Length": "5"})
    assert body.read(3) + body.read(10) + body.read(10) == b"hello"
    assert stream.read() == b"NEXT"
    cut_short = web.RequestBody(io.BytesIO(b"abc"), {"Content-Length": "10"})
    assert cut_short.read(10) == b"abc"
    with pytest.raises(ConnectionError):
        cut_short.read(10)


@pytest.fixture
def server():
    def echo(request: web.Request) -> web.Response:
        data = b""
        while chunk := request.body.read(7):
            data += chunk
        return web.json_response({"path": request.path, "query": request.query, "length": len(data)})

    def stream(request: web.Request) -> web.Response:
        return web.Response(200, (bytes([index]) * 1000 for index in range(5)), "application/octet-stream")

    def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    routes = {"/echo": echo, "/files/": echo, "/stream": stream, "/broken": broken,
              "/jmx": lambda request: web.jmx_response(request, [{"name": "A", "x": 1}, {"name": "B", "x": 2}])}
    running, port = web.start_http_server("127.0.0.1:0", routes, name="test")
    yield port
    running.stop()


def request(port: int, method: str, path: str, body=None, headers=None, encode_chunked=False):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {}, encode_chunked=encode_chunked)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def test_routes_prefixes_queries_and_bodies(server):
    response, data = request(server, "PUT", "/files/a%20b/c?OP=Create&x=1", body=b"z" * 100)
    assert response.status == 200
    assert json.loads(data) == {"path": "/files/a b/c", "query": {"op": "Create", "x": "1"}, "length": 100}
    response, data = request(server, "POST", "/echo", body=iter([b"abc", b"defgh"]),
                             headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    assert json.loads(data)["length"] == 8
    response, data = request(server, "POST", "/echo", body=b"zz\r\nnot chunked\r\n", headers={"Transfer-Encoding": "chunked"})
    assert response.status == 400 and b"malformed chunk" in data
    assert request(server, "GET", "/nowhere")[0].status == 404
    response, data = request(server, "GET", "/broken")
    assert response.status == 500 and b"a bug" in data


def test_streamed_responses_and_jmx_queries(server):
    response, data = request(server, "GET", "/stream")
    assert response.getheader("Transfer-Encoding") == "chunked" and data == b"".join(bytes([i]) * 1000 for i in range(5))
    assert [bean["name"] for bean in json.loads(request(server, "GET", "/jmx")[1])["beans"]] == ["A", "B"]
    assert json.loads(request(server, "GET", "/jmx?qry=B")[1]) == {"beans": [{"name": "B", "x": 2}]}


def test_a_connection_is_kept_alive_across_requests(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    for index in range(3):
        connection.request("PUT", f"/echo?i={index}", body=b"x" * index)
        assert json.loads(connection.getresponse().read())["length"] == index
    connection.close()


def test_cluster_urls_come_from_the_daemon_records(tmp_path):
    cluster_dir = ClusterDir(tmp_path)
    cluster_dir.publish_daemon(DaemonRecord("namenode", os.getpid(), "127.0.0.1:1", extra={"http_address": "127.0.0.1:2"}))
    cluster_dir.publish_daemon(DaemonRecord("resourcemanager", os.getpid(), "127.0.0.1:3",
                                            extra={"http_address": "127.0.0.1:4"}))
    cluster_dir.publish_daemon(DaemonRecord("datanode-core-1", 2 ** 22 + 12345, "127.0.0.1:5",
                                            extra={"http_address": "127.0.0.1:6"}))  # not running
    cluster_dir.publish_daemon(DaemonRecord("datanode-core-2", os.getpid(), "127.0.0.1:7",
                                            extra={"http_address": "127.0.0.1:8"}))
    assert web.cluster_urls(cluster_dir) == {"namenode": "http://127.0.0.1:2", "resourcemanager": "http://127.0.0.1:4",
                                             "webhdfs": "http://127.0.0.1:2/webhdfs/v1"}
    assert web.cluster_urls(cluster_dir, include_nodes=True)["datanode-core-2"] == "http://127.0.0.1:8"


def test_pages_escape_what_they_show():
    page = web.page("<title>", web.table(["a"], [["<script>"], [web.link("/x?a=1&b=2", "<b>")]])).body.decode()
    assert "<script>" not in page and "&lt;script&gt;" in page and 'href="/x?a=1&amp;b=2"' in page


@pytest.mark.parametrize("error, status, exception", [
    (errors.FileNotFound("x"), 404, "FileNotFoundException"),
    (errors.PathIsDirectory("x"), 404, "FileNotFoundException"),
    (errors.AccessControl("x"), 403, "AccessControlException"),
    (errors.FileAlreadyExists("x"), 403, "FileAlreadyExistsException"),
    (errors.SafeMode("x"), 403, "SafeModeException"),
    (errors.NoDatanodes("x"), 403, "IOException"),
    (errors.InvalidPath("x"), 400, "InvalidPathException"),
    (InvalidArgument("x"), 400, "IllegalArgumentException"),
    (shapes.Unsupported("x"), 400, "UnsupportedOperationException"),
])
def test_errors_map_to_hadoops_remote_exceptions(error, status, exception):
    response = shapes.error_response(error)
    body = json.loads(response.body)["RemoteException"]
    assert (response.status, body["exception"], body["message"]) == (status, exception, "x")
    assert body["javaClassName"].endswith("." + exception)


def test_file_status_json_is_hadoops():
    status = FileStatus("/a/b.txt", False, 10, 3, 1 << 20, "alice", "staff", 0o1644, 5, 6)
    assert shapes.file_status(status, "b.txt") == {
        "accessTime": 6, "blockSize": 1 << 20, "childrenNum": 0, "group": "staff", "length": 10,
        "modificationTime": 5, "owner": "alice", "pathSuffix": "b.txt", "permission": "1644", "replication": 3,
        "storagePolicy": 0, "type": "FILE"}
    listed = shapes.file_statuses("/a/b.txt", [status])["FileStatuses"]["FileStatus"]
    assert listed[0]["pathSuffix"] == ""  # a file lists as itself


def attempt(attempt_id: str, kind: str, node_id: str, start_s: float, finish_s: float, state: str,
            diagnostics: str = "") -> dict:
    return {"attempt_id": attempt_id, "kind": kind, "node_id": node_id, "start_time_s": start_s,
            "finish_time_s": finish_s, "state": state, "diagnostics": diagnostics, "locality": "", "progress": 1.0}


def test_the_timeline_has_a_row_per_node_and_a_bar_per_attempt_stacked_when_they_overlap():
    from mapreduce.jobhistory.web import timeline

    attempts = [
        attempt("m0", "map", "core-1", 100, 110, "SUCCEEDED"),
        attempt("m1", "map", "core-1", 101, 109, "FAILED"),
        attempt("m1b", "map", "core-1", 110, 115, "SUCCEEDED"),  # a re-run reuses the free slot
        attempt("m2", "map", "task-1", 100, 104, "KILLED", "Container preempted: spot interruption"),
        attempt("r0", "reduce", "core-2", 111, 0, "RUNNING"),
        attempt("m3", "map", "", 0, 0, "UNASSIGNED"),  # not started: no bar
    ]
    html = timeline(attempts, now_s=120)
    assert html.count('<div class="lane"') == 3
    assert html.count('data-attempt=') == 5
    assert 'class="bar map FAILED"' in html and 'class="bar map PREEMPTED"' in html
    assert 'class="bar reduce RUNNING"' in html and 'data-attempt="m3"' not in html
    m1b = html[html.index('data-attempt="m1b"'):]
    assert "top:2px" in m1b.split(">", 1)[0]  # the first slot was free again at 110 s
    m1 = html[html.index('data-attempt="m1"'):]
    assert "top:18px" in m1.split(">", 1)[0]  # m1 overlaps m0: the second slot
    assert "No attempt has started yet" in timeline([attempt("m0", "map", "", 0, 0, "NEW")], now_s=1)


def test_the_namenode_page_counts_live_dead_and_decommissioning_datanodes():
    import threading
    from types import SimpleNamespace

    from hdfs.namenode.datanodes import AdminState
    from hdfs.namenode.http import NameNodeWeb
    from tests.namenode_fixtures import add_datanodes, make_namesystem

    namesystem = make_namesystem()
    _, second, third = (namesystem.datanodes.get(uuid) for uuid in add_datanodes(namesystem, 3))
    second.admin_state = AdminState.DECOMMISSION_INPROGRESS
    third.live = False
    namenode = SimpleNamespace(lock=threading.RLock(), namesystem=namesystem, clock=namesystem.clock,
                               last_checkpoint_s=0.0, random_seed=7,
                               editlog=SimpleNamespace(last_written_txid=7, transactions_since_checkpoint=7))
    page_web = NameNodeWeb(namenode, cluster_dir=None, rpc_address="127.0.0.1:1")
    page = page_web.overview_page(None).body.decode()
    assert "Live Nodes</td><td>2<" in page and "Dead Nodes</td><td>1<" in page
    assert "Decommissioning Nodes</td><td>1<" in page and '<tr class="decommissioning"><td>core-2</td>' in page
    assert '<tr class="dead"><td>core-3</td>' in page and "Last Written Transaction Id</td><td>7<" in page
    request = web.Request("GET", "/jmx", {"qry": "Hadoop:service=NameNode,name=FSNamesystem"}, {}, None, "")
    [bean] = json.loads(page_web.jmx(request).body)["beans"]
    assert (bean["NumLiveDataNodes"], bean["NumDeadDataNodes"], bean["NumDecommissioningDataNodes"]) == (2, 1, 1)


def test_connections_beyond_the_limit_are_closed(monkeypatch):
    monkeypatch.setattr(web, "CONNECTIONS_MAX", 1)
    monkeypatch.setattr(web, "CONNECTION_WAIT_S", 0.2)
    running, port = web.start_http_server("127.0.0.1:0", {"/": lambda request: web.Response(200, b"ok")}, name="one")
    try:
        first = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        first.request("GET", "/")
        assert first.getresponse().read() == b"ok"  # kept alive: it holds the only thread
        second = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            second.request("GET", "/")
            second.getresponse()
        first.close()
        second.close()
    finally:
        running.stop()


def test_the_resourcemanager_links_to_an_applications_own_page_and_the_am_registers_its_jobs_page(tmp_path):
    from mapreduce.appmaster.tracking import tracking_url
    from yarn.records import ApplicationReport, ApplicationState, FinalApplicationStatus
    from yarn.resourcemanager.http import tracking_link

    def report(state: ApplicationState, url: str) -> ApplicationReport:
        return ApplicationReport("application_1_0001", "wc", "alice", "default", "MAPREDUCE", state,
                                 FinalApplicationStatus.UNDEFINED, tracking_url=url)

    page = "http://127.0.0.1:5/jobhistory/job/job_1_0001"
    assert tracking_link(report(ApplicationState.RUNNING, page)) == f'<a href="{page}">ApplicationMaster</a>'
    assert tracking_link(report(ApplicationState.FINISHED, page)) == f'<a href="{page}">History</a>'
    assert tracking_link(report(ApplicationState.RUNNING, "127.0.0.1:7")) == "127.0.0.1:7"  # not a web page
    assert tracking_link(report(ApplicationState.ACCEPTED, "")) == "N/A"

    cluster_dir = ClusterDir(tmp_path)
    assert tracking_url(cluster_dir, "job_1_0001") == ""  # no JobHistory server: no link
    cluster_dir.publish_daemon(DaemonRecord("jobhistory", os.getpid(), "127.0.0.1:5", "",
                                            {"http_address": "127.0.0.1:5"}))
    assert tracking_url(cluster_dir, "job_1_0001") == page
