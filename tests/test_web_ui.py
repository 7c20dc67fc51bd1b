"""The daemons' web pages and JSON twins, read over HTTP while a MapReduce job runs, then in a real browser.

One cluster (HDFS and YARN on two core nodes) runs one slow word count with
three maps and two reducers; the tests read the NameNode's and the
ResourceManager's pages and JSON during the job and after it, and the job's own
page on the JobHistory server, which the ResourceManager's page links to. The
browser test drives Debian's headless Chromium with Playwright and saves screenshots.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import YARN_FAST_PROPERTIES, ClusterPool, wait_until

from emrlab_common.web import cluster_urls

pytestmark = pytest.mark.cluster

CHROMIUM = "/usr/bin/chromium"
MiB = 1 << 20
WEB_PROPERTIES = {
    **YARN_FAST_PROPERTIES,
    "yarn.app.mapreduce.am.scheduler.heartbeat.interval-ms": "100",
    "mapreduce.task.progress-report.interval": "200",
    "mapreduce.map.memory.mb": "256",
    "mapreduce.reduce.memory.mb": "256",
    "yarn.app.mapreduce.am.resource.mb": "256",
}
SLOW_WORDS = """
    import time
    from mapreduce import Job

    class SlowWords(Job):
        def mapper(self, key, line):
            time.sleep(0.001)
            for word in line.split():
                yield word, 1

        def reducer(self, key, values):
            yield key, sum(values)
    """


def get(url: str, method: str = "GET") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get_json(url: str, method: str = "GET"):
    status, body = get(url, method)
    assert status == 200, (url, status, body[:300])
    return json.loads(body)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pool = ClusterPool(lambda: tmp_path_factory.mktemp("web"))
    yield pool.start(core=2, properties=WEB_PROPERTIES, services=("hdfs", "yarn"))
    pool.close()


@pytest.fixture(scope="module")
def urls(cluster) -> dict[str, str]:
    return cluster_urls(cluster.cluster_dir, include_nodes=True)


@pytest.fixture(scope="module")
def words_input(cluster) -> str:
    lines = [" ".join(f"word{(line * 7 + column) % 50}" for column in range(12)) for line in range(37000)]
    with cluster.client().create("/web/in/words.txt") as file:  # ~3 MiB: three blocks, three maps
        file.write("\n".join(lines).encode() + b"\n")
    return "/web/in"


def start_job(cluster, directory: Path, input_path: str, output_path: str) -> subprocess.Popen:
    """`emrlab job run` of the slow word count with two reducers, in the background."""
    (directory / "slow_words.py").write_text(textwrap.dedent(SLOW_WORDS))
    environment = dict(os.environ, EMRLAB_CLUSTER=str(cluster.cluster_dir.root))
    return subprocess.Popen(
        [sys.executable, "-m", "emrlab", "job", "run", str(directory / "slow_words.py"), "-r", "cluster",
         "-D", "mapreduce.job.reduces=2", input_path, "-o", output_path],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def job(cluster, urls, words_input, tmp_path_factory):
    """A running word count (3 maps, 2 reducers); yields its application id, and waits for it at the end."""
    process = start_job(cluster, tmp_path_factory.mktemp("webjob"), words_input, "/web/out")
    try:
        def running_application():
            apps = get_json(urls["resourcemanager"] + "/ws/v1/cluster/apps")["apps"]
            return apps and apps["app"][0]["state"] == "RUNNING" and apps["app"][0]["id"]
        yield wait_until(running_application, what="the job's application RUNNING")
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_every_daemon_publishes_its_web_address(urls, cluster):
    assert {"namenode", "resourcemanager", "jobhistory", "webhdfs", "datanode-core-1",
            "nodemanager-core-2"} <= set(urls)
    for name, url in urls.items():
        if name != "webhdfs":
            beans = get_json(url + "/jmx")["beans"]
            assert beans and all("name" in bean for bean in beans), name


def test_namenode_overview_jmx_and_file_browser(urls, cluster):
    page = get(urls["namenode"] + "/")[1].decode()
    assert "Live Nodes</td><td>2<" in page and "Dead Nodes</td><td>0<" in page and "core-2" in page
    [bean] = get_json(urls["namenode"] + "/jmx?qry=Hadoop:service=NameNode,name=FSNamesystem")["beans"]
    assert bean["NumLiveDataNodes"] == 2 and bean["NumDeadDataNodes"] == 0 and bean["CapacityTotal"] > 0
    assert {"BlocksTotal", "UnderReplicatedBlocks", "MissingBlocks", "CorruptBlocks"} <= set(bean)
    cluster.client().write_bytes("/browse/two-blocks.bin", os.urandom(MiB + 5))
    listing = get(urls["namenode"] + "/explorer?path=/browse")[1].decode()
    assert "two-blocks.bin" in listing
    file_page = get(urls["namenode"] + "/explorer?path=/browse/two-blocks.bin")[1].decode()
    assert file_page.count("blk_") == 2 and "core-1" in file_page and "core-2" in file_page


# ---------------------------------------------------------------- the browser

@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A page in Debian's headless Chromium with a fresh profile, driven by Playwright (never a downloaded browser)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, viewport={"width": 1280, "height": 900},
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"])
        try:
            yield context.new_page()
        finally:
            context.close()


def artifacts_dir(tmp_path) -> Path:
    """Where screenshots go: $EMRLAB_TEST_ARTIFACTS if set (CI keeps it), else the test's temporary directory."""
    directory = os.environ.get("EMRLAB_TEST_ARTIFACTS")
    return Path(directory) if directory else tmp_path


def reloaded(page, predicate):
    """For wait_until: reload the page, then ask."""
    page.reload()
    return predicate()


def test_a_browser_sees_the_datanodes_and_a_job_moving_on_its_timeline(browser, urls, job, tmp_path):
    artifacts = artifacts_dir(tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    page = browser
    page.goto(urls["namenode"] + "/")
    assert page.locator("td", has_text="Live Nodes").locator("xpath=following-sibling::td").inner_text() == "2"
    assert page.locator("tr:has-text('core-1')").count() >= 1
    page.screenshot(path=str(artifacts / "namenode.png"), full_page=True)

    page.goto(urls["resourcemanager"] + "/cluster")
    running = f"table:nth-of-type(3) tr:has-text('RUNNING') a[href='/cluster/app/{job}']"
    wait_until(lambda: reloaded(page, lambda: page.locator(running).count() == 1),
               what="the job's application RUNNING in the browser")
    page.locator(running).click()
    page.locator("a[href*='/jobhistory/job/']").click()  # the tracking URL: the job's own page
    seen = set()  # what a person watching reads in the job's line: it must move

    def job_line_says(predicate) -> bool:
        line = page.locator("#job-line").inner_text()
        seen.add(line)
        return predicate(line)

    wait_until(lambda: reloaded(page, lambda: job_line_says(lambda line: "RUNNING" in line)
                                and page.locator("#timeline .bar.map").count() >= 1),
               what="a map bar on the timeline")
    page.screenshot(path=str(artifacts / "job-running.png"), full_page=True)
    wait_until(lambda: reloaded(page, lambda: job_line_says(lambda line: "SUCCEEDED" in line)),
               what="the job to succeed in the browser", timeout_s=120)
    assert len(seen) >= 2, seen
    assert page.locator("#timeline .bar.map.SUCCEEDED").count() == 3
    assert page.locator("#timeline .bar.reduce.SUCCEEDED").count() == 2
    assert page.locator("text=MAP_INPUT_RECORDS").count() == 1
    page.screenshot(path=str(artifacts / "job-done.png"), full_page=True)


def test_resourcemanager_json_has_yarns_field_names(urls, job):
    rm = urls["resourcemanager"]
    assert get_json(rm + "/ws/v1/cluster/info")["clusterInfo"]["state"] == "STARTED"
    metrics = get_json(rm + "/ws/v1/cluster/metrics")["clusterMetrics"]
    assert metrics["activeNodes"] == 2 and metrics["appsSubmitted"] >= 1 and metrics["totalMB"] == 2048
    assert {"appsRunning", "appsCompleted", "appsFailed", "appsKilled", "allocatedMB", "availableVirtualCores",
            "lostNodes", "decommissioningNodes"} <= set(metrics)
    nodes = get_json(rm + "/ws/v1/cluster/nodes")["nodes"]["node"]
    assert sorted(node["id"] for node in nodes) == ["core-1", "core-2"]
    assert all(node["state"] == "RUNNING" and node["nodeLabels"] == ["CORE"] for node in nodes)
    app = get_json(rm + f"/ws/v1/cluster/apps/{job}")["app"]
    assert app["applicationType"] == "MAPREDUCE" and app["state"] in ("RUNNING", "FINISHED")
    assert app["trackingUrl"].startswith(urls["jobhistory"] + "/jobhistory/job/job_")
    status, body = get(rm + "/ws/v1/cluster/apps/application_1_0001")
    assert status == 404 and "RemoteException" in json.loads(body)


def test_the_application_page_links_to_the_jobs_page_with_progress_timeline_counters(urls, job):
    rm = urls["resourcemanager"]
    overview = get(rm + "/cluster")[1].decode()
    assert job in overview and 'http-equiv="refresh"' in overview
    application = get(rm + f"/cluster/app/{job}")[1].decode()
    assert 'id="timeline"' not in application  # YARN renders no MapReduce: it links to the job's own page
    job_url = re.search(r'<a href="([^"]+/jobhistory/job/job_[0-9_]+)">', application).group(1)
    assert job_url.startswith(urls["jobhistory"])
    page = wait_until(lambda: (text := get(job_url)[1].decode()).count('class="bar map') >= 1 and text,
                      what="a map attempt on the timeline")
    assert 'id="timeline"' in page
    done = wait_until(lambda: (text := get(job_url)[1].decode()) and 'id="job-state">SUCCEEDED<' in text and text,
                      what="the job to succeed", timeout_s=120)
    assert done.count('class="bar map SUCCEEDED"') == 3 and done.count('class="bar reduce SUCCEEDED"') == 2
    assert "MAP_INPUT_RECORDS" in done and "37000" in done and 'http-equiv="refresh"' not in done
    finished = wait_until(lambda: (text := get(rm + f"/cluster/app/{job}")[1].decode()) and "FINISHED" in text and text,
                          what="the application FINISHED")
    assert f'<a href="{job_url}">History</a>' in finished  # the same page, now the job's history
    status, missing = get(urls["jobhistory"] + "/jobhistory/job/job_1_0001")
    assert status == 200 and "Job not found" in missing.decode()


# ---------------------------------------------------------------- breaks the cluster: runs last

def test_a_killed_datanode_shows_as_dead_and_webhdfs_sends_nobody_there(urls, cluster):
    cluster.kill("datanode-core-2")
    for _ in range(10):  # before the NameNode declares it dead, too
        location = get_json(urls["webhdfs"] + "/web/after-kill?op=CREATE&noredirect=true", "PUT")["Location"]
        assert location.startswith(urls["datanode-core-1"] + "/"), location

    def overview_says_dead():
        page = get(urls["namenode"] + "/")[1].decode()
        return "Dead Nodes</td><td>1<" in page and "Live Nodes</td><td>1<" in page and page
    page = wait_until(overview_says_dead, what="the NameNode page to show one dead DataNode")
    assert '<tr class="dead"><td>core-2</td>' in page
    [bean] = get_json(urls["namenode"] + "/jmx?qry=Hadoop:service=NameNode,name=FSNamesystem")["beans"]
    assert (bean["NumLiveDataNodes"], bean["NumDeadDataNodes"]) == (1, 1)
