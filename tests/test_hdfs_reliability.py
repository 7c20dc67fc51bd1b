"""Issue 13's findings, each reproduced first: deep namespaces, unreadable blocks, damaged replicas,
replication asked while DataNodes were down, and bad input at the edge."""

from __future__ import annotations

import pytest

from emrlab_common.config import load
from emrlab_common.errors import InvalidArgument, ResourceExhausted
from hdfs import paths
from hdfs.errors import InvalidPath
from hdfs.namenode.config import NameNodeConfig
from hdfs.namenode.server import NameNode
from tests.namenode_fixtures import SUPERUSER, TEST_PROPERTIES, make_namesystem

MiB = 1 << 20
DEEP_LEVELS = 995  # beyond Python's recursion limit, within HDFS's 1000 levels


def deep_path(levels: int = DEEP_LEVELS) -> str:
    return "/tmp" + "/d" * (levels - 1)


# ---------------------------------------------------------------- 1. deep directories

def test_a_namenode_with_a_directory_995_levels_deep_restarts_and_traverses_it(tmp_path):
    config = load(NameNodeConfig, TEST_PROPERTIES)
    namenode = NameNode(config, tmp_path, SUPERUSER)
    with namenode.operation() as namesystem:
        namesystem.set_safe_mode("leave")
        namesystem.mkdirs(SUPERUSER, deep_path(), 0o755, True)
    namenode.editlog.close()  # as kill -9: no checkpoint, the edit log replays
    restarted = NameNode(config, tmp_path, SUPERUSER)
    with restarted.operation() as namesystem:
        namesystem.set_safe_mode("leave")
        assert namesystem.file_info(SUPERUSER, deep_path()).is_directory
        assert namesystem.content_summary(SUPERUSER, "/").directory_count == DEEP_LEVELS + 1
        assert len(namesystem.fsck(SUPERUSER, "/")) == DEEP_LEVELS + 1
    restarted.close()  # a checkpoint: now the image holds it
    from_image = NameNode(config, tmp_path, SUPERUSER)
    with from_image.operation() as namesystem:
        namesystem.set_safe_mode("leave")
        assert namesystem.file_info(SUPERUSER, deep_path()).is_directory
        namesystem.delete(SUPERUSER, "/tmp", True)
        assert namesystem.file_info(SUPERUSER, "/tmp") is None
    from_image.close()


def test_hadoops_path_limits_are_enforced_with_its_messages():
    namesystem = make_namesystem(properties={"dfs.namenode.fs-limits.max-component-length": "10",
                                             "dfs.namenode.fs-limits.max-directory-items": "3"})
    with pytest.raises(InvalidArgument, match="The maximum path component name limit of abcdefghijk in "
                                              "directory /a is exceeded: limit=10 length=11"):
        namesystem.mkdirs(SUPERUSER, "/a/abcdefghijk", 0o755, True)
    namesystem.mkdirs(SUPERUSER, "/b/one", 0o755, True)
    namesystem.mkdirs(SUPERUSER, "/b/two", 0o755, True)
    namesystem.mkdirs(SUPERUSER, "/b/three", 0o755, True)
    with pytest.raises(ResourceExhausted, match="The directory item limit of /b is exceeded: limit=3 items=3"):
        namesystem.mkdirs(SUPERUSER, "/b/four/five", 0o755, True)
    with pytest.raises(ResourceExhausted, match="directory item limit"):
        namesystem.create(SUPERUSER, "/b/file", 0o644, "c1", False, True, 1, 0)
    namesystem.mkdirs(SUPERUSER, "/c", 0o755, True)
    with pytest.raises(ResourceExhausted, match="directory item limit"):
        namesystem.rename(SUPERUSER, "/c", "/b/c")
    namesystem.mkdirs(SUPERUSER, "/c" + "/d" * 600, 0o755, True)
    namesystem.mkdirs(SUPERUSER, "/e" + "/f" * 500, 0o755, True)
    with pytest.raises(InvalidArgument, match="would be 1102 levels deep; the limit is 1000"):
        namesystem.rename(SUPERUSER, "/c", "/e" + "/f" * 500)
    for too_long in ("/x" * 1001, "/" + "/".join(["y" * 200] * 41)):
        with pytest.raises(InvalidPath, match="Pathname too long.  Limit 8000 characters, 1000 levels.") as error:
            paths.validate(too_long)
        assert len(str(error.value)) < 400  # the message does not repeat the path


def test_client_walk_and_dfs_descendants_do_not_recurse_on_depth():
    from hdfs.cli.dfs import descendants
    from hdfs.client.client import Client
    from hdfs.protocol import FileStatus

    class FakeNamenode(Client):
        """A Client whose namespace is a chain of DEEP_LEVELS directories, with no NameNode behind it."""

        def __init__(self):
            pass

        def status(self, path):
            return FileStatus(path, True, 0, 0, 0, "u", "g", 0o755, 0, 0, 1)

        def list(self, path):
            if path.count("/") >= DEEP_LEVELS:
                return []
            return [self.status(path.rstrip("/") + "/d")]

    client = FakeNamenode()
    assert sum(1 for _ in client.walk("/")) == DEEP_LEVELS + 1
    assert sum(1 for _ in descendants(client, "/")) == DEEP_LEVELS
