"""gRPC's fork handlers are off in every process emrlab starts (see emrlab_common/__init__.py).

With them on, a child forked while gRPC runs can die before its exec: PySpark's JVM
"exited before sending its port number" in a full test run. The setting is read when grpc
loads, so each package must set it before anything imports grpc.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import os, sys
import {module}
assert os.environ.get("GRPC_ENABLE_FORK_SUPPORT") == "false", os.environ.get("GRPC_ENABLE_FORK_SUPPORT")
print("ok")
"""


@pytest.mark.parametrize("module", ["hdfs", "yarn", "mapreduce", "emrlab", "emrlab_common.rpc", "hdfs.namenode",
                                    "yarn.nodemanager", "mapreduce.task.yarnchild", "mapreduce.runners.spark"])
def test_importing_any_package_turns_grpcs_fork_handlers_off(module):
    environment = {key: value for key, value in os.environ.items() if key != "GRPC_ENABLE_FORK_SUPPORT"}
    done = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True,
                          env=environment, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-500:]


def test_a_user_who_wants_them_keeps_them():
    environment = {**os.environ, "GRPC_ENABLE_FORK_SUPPORT": "true"}
    done = subprocess.run([sys.executable, "-c", "import os, hdfs; print(os.environ['GRPC_ENABLE_FORK_SUPPORT'])"],
                          capture_output=True, text=True, env=environment, timeout=120, check=False)
    assert done.stdout.strip() == "true", done.stderr[-500:]


def test_the_test_process_itself_has_them_off():
    assert os.environ.get("GRPC_ENABLE_FORK_SUPPORT") == "false"
