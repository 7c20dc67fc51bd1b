"""The NameNode's configuration: a value that would break it later is refused at start, in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emrlab_common.config import load
from emrlab_common.daemon import daemon_environment
from emrlab_common.errors import InvalidArgument
from hdfs.namenode.config import TRANSFERS_QUEUED_MAX, NameNodeConfig

HARD_LIMIT = "dfs.namenode.replication.max-streams-hard-limit"


@pytest.mark.parametrize("key", ["dfs.namenode.replication.max-streams", HARD_LIMIT])
@pytest.mark.parametrize("value", [0, TRANSFERS_QUEUED_MAX + 1])
def test_stream_limits_outside_what_a_datanodes_queue_holds_are_refused(key, value):
    with pytest.raises(InvalidArgument, match=f"{key}: {value}; must be between 1 and {TRANSFERS_QUEUED_MAX}"):
        load(NameNodeConfig, {key: str(value)})


def test_stream_limits_up_to_the_queue_bound_are_taken():
    config = load(NameNodeConfig, {HARD_LIMIT: str(TRANSFERS_QUEUED_MAX),
                                   "dfs.namenode.replication.max-streams": str(TRANSFERS_QUEUED_MAX)})
    assert config.replication_streams_hard_limit == config.replication_streams_max == TRANSFERS_QUEUED_MAX


def test_the_namenode_process_given_a_bad_hard_limit_exits_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "hdfs.namenode", "--dir", str(tmp_path), "-D", f"{HARD_LIMIT}=100"],
                            check=False, capture_output=True, text=True, timeout=120, env=daemon_environment())
    assert result.returncode != 0
    expected = (f"namenode: {HARD_LIMIT}: 100; must be between 1 and {TRANSFERS_QUEUED_MAX} "
                f"(the copies one DataNode's command queue holds)")
    assert result.stderr.splitlines() == [expected]
