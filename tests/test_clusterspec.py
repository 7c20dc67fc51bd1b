"""The cluster spec (cluster.json): typed, versioned, refused with one clear error when it is not one we read,
and what the launcher tells each daemon of it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emrlab import launcher
from emrlab_common.clusterdir import ClusterDir
from emrlab_common.clusterspec import SPEC_VERSION, ClusterSpec, ClusterSpecError, NodeSpec


def make_spec(**changes) -> ClusterSpec:
    fields = dict(nodes=launcher.node_spec(2, 1, spot_task=True), properties={"dfs.blocksize": "1m"},
                  superuser="hdfs", services=("hdfs", "yarn"), created="2026-12-01T10:00:00")
    return ClusterSpec(**{**fields, **changes})


def test_a_spec_round_trips_through_its_json():
    spec = make_spec(cluster_id="j-1")
    assert ClusterSpec.from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json())["version"] == SPEC_VERSION
    assert spec.in_group("TASK") == (NodeSpec("task-1", "TASK", "SPOT"),)
    assert spec.nodes_by_id["core-2"].group == "CORE"
    with pytest.raises(TypeError):
        spec.properties["dfs.blocksize"] = "2m"  # frozen, its properties too


@pytest.mark.parametrize("change, words", [
    (lambda document: document.pop("version"), "has no version"),
    (lambda document: document.update(version=SPEC_VERSION + 1), f"is version {SPEC_VERSION + 1}"),
    (lambda document: document.pop("superuser"), "has no superuser field"),
    (lambda document: document.update(nodes=[{"group": "CORE"}]), "nodes must be a list of objects with an id"),
    (lambda document: document.update(properties={"dfs.replication": 2}), "properties must be an object of strings"),
])
def test_a_spec_of_another_version_or_missing_a_field_is_refused_with_one_clear_error(change, words):
    document = json.loads(make_spec().to_json())
    change(document)
    with pytest.raises(ClusterSpecError, match=words):
        ClusterSpec.from_json(json.dumps(document), "/x/cluster.json")


def test_daemons_are_told_their_node_label_and_the_superuser_and_the_cluster_property_wins():
    spec = make_spec()
    assert launcher.told_arguments(spec, "hdfs.namenode", "") == ("-D", "emrlab.hdfs.superuser=hdfs")
    assert launcher.told_arguments(spec, "yarn.nodemanager", "task-1") == (
        "-D", "yarn.nodemanager.node-labels.provider.configured-node-partition=TASK")
    assert launcher.told_arguments(spec, "hdfs.datanode", "core-1") == ()
    labelled = make_spec(properties={"yarn.nodemanager.node-labels.provider.configured-node-partition": "GPU"})
    assert launcher.told_arguments(labelled, "yarn.nodemanager", "task-1") == ()


def test_dfs_replication_is_sized_to_a_small_cluster_unless_set():
    assert launcher.sized_properties({}, 2) == {"dfs.replication": "2"}
    assert launcher.sized_properties({}, 5) == {}
    assert launcher.sized_properties({"dfs.replication": "3"}, 1) == {"dfs.replication": "3"}


def test_a_command_on_a_cluster_directory_of_an_older_emrlab_says_so_in_one_line(tmp_path):
    (tmp_path / "cluster.json").write_text(json.dumps({"nodes": [], "properties": {}, "superuser": "me"}))
    result = subprocess.run([sys.executable, "-m", "emrlab", "--dir", str(tmp_path), "cluster", "status"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "has no version" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert ClusterDir(tmp_path).exists()
