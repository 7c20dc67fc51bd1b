"""The controller's web page and its JSON twins, served by a real controller over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from emrlab.controller import launch
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.web import cluster_urls
from tests.conftest import FAST_PROPERTIES, YARN_FAST_PROPERTIES, wait_until

pytestmark = pytest.mark.cluster


def emrlab(cluster_dir: ClusterDir, *arguments: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, EMRLAB_CLUSTER=str(cluster_dir.root))
    return subprocess.run([sys.executable, "-m", "emrlab", *arguments], capture_output=True, text=True,
                          env=environment, timeout=120)


@pytest.fixture(scope="module")
def managed(tmp_path_factory):
    cluster_dir = ClusterDir(tmp_path_factory.mktemp("controller-web") / "cluster")
    definitions = [item for key, value in {**FAST_PROPERTIES, **YARN_FAST_PROPERTIES}.items()
                   for item in ("-D", f"{key}={value}")]
    try:
        result = emrlab(cluster_dir, *definitions, "cluster", "up", "--core", "1", "--task", "1",
                        "--task-market", "spot")
        assert result.returncode == 0, result.stderr
        yield cluster_dir
    finally:
        launch.down(cluster_dir, timeout_s=5)


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read().decode()


def test_the_page_shows_the_cluster_its_instances_steps_and_bill(managed):
    controller = cluster_urls(managed)["controller"]
    step = emrlab(managed, "step", "add", "--name", "greet", "--", "bash", "-c", "echo hello from a step")
    step_id = step.stdout.strip()
    wait_until(lambda: json.loads(get(f"{controller}/api/list-steps")[2])["Steps"][0]["Status"]["State"]
               == "COMPLETED", what="the step to complete")
    status, content_type, text = get(f"{controller}/")
    assert status == 200 and content_type.startswith("text/html")
    describe = json.loads(emrlab(managed, "cluster", "describe", "--output", "json").stdout)
    assert describe["Cluster"]["Id"] in text and "WAITING" in text
    for instance in json.loads(emrlab(managed, "cluster", "list-instances", "--output", "json").stdout)["Instances"]:
        assert instance["Id"] in text
    assert "SPOT" in text
    assert "The bill so far" in text and step_id in text
    _, _, step_page = get(f"{controller}/steps/{step_id}")
    assert "hello from a step" in step_page


def test_json_twins_are_the_aws_emr_shapes(managed):
    controller = cluster_urls(managed)["controller"]
    over_http = json.loads(get(f"{controller}/api/describe-cluster")[2])
    from_cli = json.loads(emrlab(managed, "cluster", "describe", "--output", "json").stdout)
    assert over_http["Cluster"]["Id"] == from_cli["Cluster"]["Id"]
    assert [group["Id"] for group in over_http["Cluster"]["InstanceGroups"]] == \
        [group["Id"] for group in from_cli["Cluster"]["InstanceGroups"]]
    cost = json.loads(get(f"{controller}/api/cost")[2])
    assert set(cost["ByMarket"]) == {"ON_DEMAND", "SPOT"} and cost["Total"]["Total"] > 0
    beans = json.loads(get(f"{controller}/jmx")[2])["beans"]
    assert beans[0]["name"] == "emrlab:service=ClusterController,name=Cluster" and beans[0]["State"] == "WAITING"
    urls = json.loads(emrlab(managed, "cluster", "urls", "--output", "json").stdout)
    assert set(urls) >= {"namenode", "resourcemanager", "jobhistory", "controller", "webhdfs"}
