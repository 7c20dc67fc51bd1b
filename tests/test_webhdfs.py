"""WebHDFS against clients nobody here wrote: curl, fsspec's webhdfs filesystem, HdfsCLI in its own venv.

One small cluster (conftest's shared_cluster: four DataNodes, 1 MiB blocks) serves the module;
every round trip crosses block boundaries and must come back byte-identical.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from urllib.parse import urlsplit

import pytest

from emrlab_common.web import cluster_urls

pytestmark = pytest.mark.cluster

MiB = 1 << 20
CURL_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def cluster(shared_cluster):
    return shared_cluster


@pytest.fixture(scope="module")
def webhdfs(cluster) -> str:
    return cluster_urls(cluster.cluster_dir, include_nodes=True)["webhdfs"]


@pytest.fixture(scope="module")
def superuser(cluster) -> str:
    return cluster.spec.superuser


def curl(*arguments: str, input_bytes: bytes | None = None) -> tuple[int, bytes]:
    """Run curl; return the HTTP status of the last response and its body."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    result = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", *arguments], capture_output=True,
                            input=input_bytes, timeout=CURL_TIMEOUT_S, check=True)
    body, _, status = result.stdout.rpartition(b"\n")
    return int(status), body


def remote_exception(body: bytes) -> dict:
    return json.loads(body)["RemoteException"]


# ---------------------------------------------------------------- curl

def test_curl_create_open_list_delete_across_blocks(webhdfs, superuser, tmp_path):
    data = os.urandom(2 * MiB + 12345)
    (tmp_path / "in.bin").write_bytes(data)
    user = f"user.name={superuser}"
    status, _ = curl("-L", "-X", "PUT", "-T", str(tmp_path / "in.bin"), f"{webhdfs}/curl/deep/in.bin?op=CREATE&{user}")
    assert status == 201  # missing parents are made, as Hadoop does
    status, _ = curl("-L", "-o", str(tmp_path / "out.bin"), f"{webhdfs}/curl/deep/in.bin?op=OPEN&{user}")
    assert status == 200 and (tmp_path / "out.bin").read_bytes() == data
    status, body = curl("-L", f"{webhdfs}/curl/deep/in.bin?op=OPEN&offset={MiB - 10}&length=20&{user}")
    assert body == data[MiB - 10:MiB + 10]
    status, body = curl(f"{webhdfs}/curl/deep?op=LISTSTATUS&{user}")
    [entry] = json.loads(body)["FileStatuses"]["FileStatus"]
    assert (entry["pathSuffix"], entry["type"], entry["length"], entry["permission"]) == ("in.bin", "FILE", len(data), "644")
    status, body = curl(f"{webhdfs}/curl/deep/in.bin?op=GETFILEBLOCKLOCATIONS&{user}")
    locations = json.loads(body)["BlockLocations"]["BlockLocation"]
    assert [location["offset"] for location in locations] == [0, MiB, 2 * MiB]
    status, body = curl("-X", "DELETE", f"{webhdfs}/curl?op=DELETE&recursive=true&{user}")
    assert json.loads(body) == {"boolean": True}
    status, body = curl(f"{webhdfs}/curl?op=GETFILESTATUS&{user}")
    assert status == 404


def test_curl_two_steps_by_hand_with_noredirect_and_chunked_body(webhdfs, superuser):
    user = f"user.name={superuser}"
    status, body = curl("-X", "PUT", f"{webhdfs}/steps/f.txt?op=CREATE&noredirect=true&{user}")
    location = json.loads(body)["Location"]
    assert status == 200 and "namenoderpcaddress=" in location and urlsplit(location).port != urlsplit(webhdfs).port
    status, _ = curl("-X", "PUT", "-H", "Transfer-Encoding: chunked", "--data-binary", "hello ", location)
    assert status == 201
    status, _ = curl("-i", "-X", "POST", f"{webhdfs}/steps/f.txt?op=APPEND&{user}")
    assert status == 307
    status, _ = curl("-L", "-X", "POST", "--data-binary", "world", f"{webhdfs}/steps/f.txt?op=APPEND&{user}")
    assert status == 200
    assert curl("-L", f"{webhdfs}/steps/f.txt?op=OPEN&{user}")[1] == b"hello world"


def test_curl_errors_are_remote_exceptions_with_hadoops_status_codes(webhdfs, superuser):
    status, body = curl(f"{webhdfs}/no/such/file?op=GETFILESTATUS&user.name={superuser}")
    assert status == 404 and remote_exception(body)["exception"] == "FileNotFoundException"
    assert remote_exception(body)["javaClassName"] == "java.io.FileNotFoundException"
    status, body = curl("-L", f"{webhdfs}/no/such/file?op=OPEN&user.name={superuser}")
    assert status == 404
    status, body = curl("-X", "PUT", f"{webhdfs}/not-yours?op=MKDIRS&user.name=mallory")
    assert status == 403 and remote_exception(body)["exception"] == "AccessControlException"
    status, body = curl(f"{webhdfs}/?op=NOSUCHOP")
    assert status == 400 and remote_exception(body)["exception"] == "IllegalArgumentException"
    status, body = curl("-X", "PUT", f"{webhdfs}/x?op=SETREPLICATION&replication=many&user.name={superuser}")
    assert status == 400 and remote_exception(body)["exception"] == "IllegalArgumentException"
    curl("-L", "-X", "PUT", "--data-binary", "x", f"{webhdfs}/exists.txt?op=CREATE&user.name={superuser}")
    status, body = curl("-L", "-X", "PUT", "--data-binary", "y", f"{webhdfs}/exists.txt?op=CREATE&user.name={superuser}")
    assert status == 403 and remote_exception(body)["javaClassName"] == "org.apache.hadoop.fs.FileAlreadyExistsException"
    status, body = curl("-X", "POST", f"{webhdfs}/exists.txt?op=TRUNCATE&newlength=0&user.name={superuser}")
    assert status == 400 and remote_exception(body)["exception"] == "UnsupportedOperationException"
    status, body = curl("-X", "PUT", f"{webhdfs}/?op=OPEN")
    assert status == 400


def test_namespace_operations(webhdfs, superuser):
    user = f"user.name={superuser}"
    assert json.loads(curl("-X", "PUT", f"{webhdfs}/ns/a?op=MKDIRS&permission=750&{user}")[1]) == {"boolean": True}
    assert json.loads(curl(f"{webhdfs}/ns/a?op=GETFILESTATUS&{user}")[1])["FileStatus"]["permission"] == "750"
    assert json.loads(curl("-X", "PUT", f"{webhdfs}/ns/a?op=RENAME&destination=/ns/b&{user}")[1]) == {"boolean": True}
    assert json.loads(curl("-X", "PUT", f"{webhdfs}/ns/a?op=RENAME&destination=/ns/c&{user}")[1]) == {"boolean": False}
    assert curl("-X", "PUT", f"{webhdfs}/ns/b?op=SETPERMISSION&permission=700&{user}")[0] == 200
    assert curl("-X", "PUT", f"{webhdfs}/ns/b?op=SETOWNER&owner=alice&group=staff&{user}")[0] == 200
    assert curl("-X", "PUT", f"{webhdfs}/ns/b?op=SETTIMES&modificationtime=86400000&{user}")[0] == 200
    assert curl("-X", "PUT", f"{webhdfs}/ns/b?op=SETTIMES&modificationtime=soon&{user}")[0] == 400
    status = json.loads(curl(f"{webhdfs}/ns/b?op=GETFILESTATUS&{user}")[1])["FileStatus"]
    assert (status["owner"], status["group"], status["permission"], status["modificationTime"]) == (
        "alice", "staff", "700", 86400000)
    summary = json.loads(curl(f"{webhdfs}/ns?op=GETCONTENTSUMMARY&{user}")[1])["ContentSummary"]
    assert summary["directoryCount"] == 2 and summary["fileCount"] == 0
    assert json.loads(curl(f"{webhdfs}/?op=GETHOMEDIRECTORY&user.name=alice")[1]) == {"Path": "/user/alice"}
    batch = json.loads(curl(f"{webhdfs}/ns?op=LISTSTATUS_BATCH&{user}")[1])["DirectoryListing"]
    assert batch["remainingEntries"] == 0 and batch["partialListing"]["FileStatuses"]["FileStatus"][0]["pathSuffix"] == "b"
    assert json.loads(curl("-X", "DELETE", f"{webhdfs}/ns/missing?op=DELETE&{user}")[1]) == {"boolean": False}
    status, body = curl("-X", "DELETE", f"{webhdfs}/ns?op=DELETE&{user}")
    assert status == 403 and remote_exception(body)["exception"] == "PathIsNotEmptyDirectoryException"


def test_create_options_and_the_file_checksum(webhdfs, superuser, cluster):
    user = f"user.name={superuser}"
    data = os.urandom(3 * MiB)
    status, _ = curl("-L", "-X", "PUT", "--data-binary", "@-", f"{webhdfs}/options/f?op=CREATE&blocksize={2 * MiB}"
                     f"&replication=2&permission=600&{user}", input_bytes=data)
    assert status == 201
    status = json.loads(curl(f"{webhdfs}/options/f?op=GETFILESTATUS&{user}")[1])["FileStatus"]
    assert (status["blockSize"], status["replication"], status["permission"], status["length"]) == (2 * MiB, 2, "600", len(data))
    checksum = json.loads(curl("-L", f"{webhdfs}/options/f?op=GETFILECHECKSUM&{user}")[1])["FileChecksum"]
    assert checksum["algorithm"] == "MD5-of-4096MD5-of-512CRC32C" and checksum["length"] == 28
    assert checksum["bytes"].endswith(cluster.client().file_checksum("/options/f").split()[-1])


# ---------------------------------------------------------------- fsspec

def test_fsspec_webhdfs_reads_writes_lists_globs_and_deletes(webhdfs, superuser, cluster):
    webhdfs_module = pytest.importorskip("fsspec.implementations.webhdfs", reason="fsspec is not installed")
    address = urlsplit(webhdfs)
    fs = webhdfs_module.WebHDFS(address.hostname, port=address.port, user=superuser, tempdir="/fsspec-tmp")
    fs.mkdir("/fsspec/data")
    written = {}
    for index, size in enumerate([3 * MiB + 7, MiB, 11]):
        data = os.urandom(size)
        with fs.open(f"/fsspec/data/part-{index}", "wb", block_size=2 * MiB) as file:  # more than one APPEND
            file.write(data)  # fsspec: CREATE an empty file, then one APPEND per 2 MiB
        written[f"/fsspec/data/part-{index}"] = data
    for path, data in written.items():
        assert fs.cat_file(path) == data
        with fs.open(path, "rb", block_size=MiB // 2) as file:  # ranged OPENs across block boundaries
            file.seek(len(data) // 3)
            assert file.read(MiB) == data[len(data) // 3:len(data) // 3 + MiB]
    assert sorted(fs.ls("/fsspec/data", detail=False)) == sorted(written)
    assert fs.glob("/fsspec/data/part-[01]") == ["/fsspec/data/part-0", "/fsspec/data/part-1"]
    assert fs.info("/fsspec/data/part-0")["size"] == 3 * MiB + 7
    assert cluster.client().read_bytes("/fsspec/data/part-0") == written["/fsspec/data/part-0"]
    fs.rm("/fsspec", recursive=True)
    assert not fs.exists("/fsspec/data")
    with pytest.raises(FileNotFoundError):
        fs.cat_file("/fsspec/data/part-0")


# ---------------------------------------------------------------- Spark, with its own Hadoop client

def test_spark_reads_and_writes_webhdfs_with_its_own_hadoop_client(webhdfs, cluster):
    pytest.importorskip("pyspark", reason="PySpark is not installed (pip install -e '.[test]' installs it)")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for PySpark (.ci/run installs one)")
    from pyspark.sql import SparkSession

    lines = [f"line {index} " + "x" * (index % 90) for index in range(40000)]  # ~2.5 MiB: three blocks
    cluster.client().write_bytes("/spark/in/lines.txt", ("\n".join(lines) + "\n").encode())
    namenode = urlsplit(webhdfs).netloc
    spark = (SparkSession.builder.master("local[2]").appName("webhdfs").config("spark.ui.enabled", "false")
             .config("spark.hadoop.dfs.replication", "2").getOrCreate())
    try:
        read = spark.sparkContext.textFile(f"webhdfs://{namenode}/spark/in").collect()
        assert read == lines
        spark.sparkContext.parallelize(["a", "b", "c"], 2).saveAsTextFile(f"webhdfs://{namenode}/spark/out")
    finally:
        spark.stop()
    client = cluster.client()
    assert client.exists("/spark/out/_SUCCESS")
    assert sorted(b"".join(client.read_bytes(path) for path in client.glob("/spark/out/part-*")).split()) == [b"a", b"b", b"c"]


# ---------------------------------------------------------------- append through emrlab's own client

def test_append_to_file_and_client_append_across_blocks(cluster, tmp_path):
    first, second = os.urandom(MiB + 100), os.urandom(2 * MiB + 3)
    (tmp_path / "first").write_bytes(first)
    (tmp_path / "second").write_bytes(second)
    cluster.emrlab("dfs", "-appendToFile", str(tmp_path / "first"), "/append/log", check=True)
    cluster.emrlab("dfs", "-appendToFile", str(tmp_path / "second"), "-", "/append/log", input_bytes=b"tail", check=True)
    client = cluster.client()
    with client.append("/append/log") as file:
        file.write(b"!")
    assert client.read_bytes("/append/log") == first + second + b"tail" + b"!"
    result = cluster.emrlab("dfs", "-appendToFile", str(tmp_path / "missing"), "/append/log")
    assert result.returncode != 0 and b"No such file" in result.stderr and b"Traceback" not in result.stderr


# ---------------------------------------------------------------- HdfsCLI, from its own virtual environment

@pytest.fixture(scope="module")
def hdfscli_python(tmp_path_factory) -> str:
    """A virtual environment with HdfsCLI (PyPI's `hdfs`), which must not share one with emrlab."""
    directory = tmp_path_factory.mktemp("hdfscli-venv")
    venv.create(directory, with_pip=False)
    python = str(directory / "bin" / "python")
    # This environment's pip installs into that one (pip --python), which saves bootstrapping a pip there.
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "hdfs"],
                               capture_output=True, timeout=300, check=False)
    if installed.returncode != 0:
        pytest.skip(f"could not install HdfsCLI into its own venv: {installed.stderr.decode()[-300:]}")
    return python


HDFSCLI_SCRIPT = """
import os, sys
from hdfs import InsecureClient
client = InsecureClient(sys.argv[1], user=sys.argv[2])
data = os.urandom(2 * 1024 * 1024 + 99)
client.write("/hdfscli/big.bin", data, overwrite=True)
with client.read("/hdfscli/big.bin") as reader:
    assert reader.read() == data, "read back differs"
client.write("/hdfscli/big.bin", b"more", append=True)
with client.read("/hdfscli/big.bin", offset=len(data)) as reader:
    assert reader.read() == b"more"
assert client.list("/hdfscli") == ["big.bin"], client.list("/hdfscli")
assert client.status("/hdfscli/big.bin")["length"] == len(data) + 4
assert client.status("/hdfscli/nope", strict=False) is None
client.delete("/hdfscli", recursive=True)
print("ok")
"""


def test_hdfscli_from_its_own_venv(hdfscli_python, webhdfs, superuser, tmp_path):
    namenode_url = webhdfs.removesuffix("/webhdfs/v1")
    result = subprocess.run([hdfscli_python, "-c", HDFSCLI_SCRIPT, namenode_url, superuser], capture_output=True,
                            timeout=120, cwd=tmp_path, check=False)
    assert result.returncode == 0 and result.stdout.strip() == b"ok", result.stderr.decode()[-2000:]


def test_emrlab_says_what_happened_when_hdfscli_shadows_it(tmp_path):
    shadow = tmp_path / "site" / "hdfs"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("class InsecureClient:\n    pass\n")
    environment = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    result = subprocess.run([sys.executable, "-m", "emrlab", "dfs", "-ls", "/"], capture_output=True, cwd=tmp_path,
                            env=environment, timeout=60, check=False)
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "HdfsCLI" in lines[0] and "virtual environment" in lines[0]
