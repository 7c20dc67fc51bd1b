"""The fault harness (`python -m tests.faults`) on short fixed schedules: nothing acknowledged is lost, every
job that succeeded has its reference output, every failure says why."""

import pytest

from tests import faults
from tests.faults_netns import unavailable_reason

pytestmark = pytest.mark.cluster


def summary(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith("seed "))


def test_a_short_seeded_schedule_of_faults_across_hdfs_and_yarn_loses_nothing_acknowledged(tmp_path):
    lines = []
    rounds = len(faults.HDFS_FAULTS + faults.YARN_FAULTS)  # each fault once, in the seed's order
    lost = faults.run(seed=9, rounds=rounds, directory=tmp_path / "cluster", say=lines.append)
    assert lost == 0, "\n".join(lines)
    assert f"faults injected {rounds}," in summary(lines)
    assert "succeeded 0," not in summary(lines), "no job ran to the end beside the faults:\n" + "\n".join(lines)


def test_partitions_and_a_degraded_link_between_network_namespaces_lose_nothing(tmp_path):
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    lines = []
    lost = faults.run(seed=14, rounds=2, directory=tmp_path / "cluster", say=lines.append, netns=True,
                      only=faults.NETWORK_FAULTS)
    assert lost == 0, "\n".join(lines)
    assert "faults injected 2," in summary(lines)
    assert any("partition core-3 (10.213." in line and "for 4.5s" in line for line in lines)  # dead, and LOST
    assert any("on core-4's link for 9.0s" in line for line in lines)
