"""HDFS append (what WebHDFS APPEND and `dfs -appendToFile` need), on the NameNode's state machine alone."""

import pytest

from hdfs.errors import (
    AccessControl,
    AlreadyBeingCreated,
    FileNotFound,
    PathIsDirectory,
)
from hdfs.namenode.blocks import BlockState
from hdfs.namenode.datanodes import BlockRef
from tests.namenode_fixtures import SUPERUSER, add_datanodes, make_namesystem


def write_blocks(namesystem, path, client, previous, sizes):
    """Add blocks of `sizes` after `previous`, each reported by its whole pipeline; return the last."""
    for size in sizes:
        located = namesystem.add_block(path, client, previous, set(), "")
        previous = BlockRef(located.block.block_id, located.block.generation_stamp, size)
        for node in located.locations:
            namesystem.blocks_received_and_deleted(node.uuid, [previous], [])
    return previous


def test_append_reopens_a_closed_file_and_new_bytes_go_into_new_blocks():
    journal = []
    namesystem = make_namesystem(journal=journal.append)
    add_datanodes(namesystem, 3)
    namesystem.create(SUPERUSER, "/f", 0o644, "c1", False, True, 3, 0)
    first = write_blocks(namesystem, "/f", "c1", None, [100])
    assert namesystem.complete("/f", "c1", first)
    status, last = namesystem.append(SUPERUSER, "/f", "c2")
    assert status.under_construction and last.block_id == first.block_id and last.length_bytes == 100
    with pytest.raises(AlreadyBeingCreated):
        namesystem.append(SUPERUSER, "/f", "c3")
    second = write_blocks(namesystem, "/f", "c2", last, [50])
    assert namesystem.file_info(SUPERUSER, "/f").length_bytes == 100  # the block being written is not counted yet
    assert namesystem.complete("/f", "c2", second)
    inode = namesystem.namespace.get_file("/f")
    assert [block.length_bytes for block in inode.blocks] == [100, 50]
    assert all(block.state is BlockState.COMPLETE for block in inode.blocks)
    assert namesystem.file_info(SUPERUSER, "/f").length_bytes == 150 and not inode.under_construction

    replayed = make_namesystem()
    for edit in journal:
        replayed.replay(edit)
    replayed_inode = replayed.namespace.get_file("/f")
    assert [(block.block_id, block.length_bytes) for block in replayed_inode.blocks] == [
        (block.block_id, block.length_bytes) for block in inode.blocks]
    assert not replayed_inode.under_construction


def test_an_empty_append_closes_again_and_an_empty_file_appends_from_no_block():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 1)
    namesystem.create(SUPERUSER, "/e", 0o644, "c1", False, True, 1, 0)
    assert namesystem.complete("/e", "c1", None)
    _, last = namesystem.append(SUPERUSER, "/e", "c2")
    assert last is None
    assert namesystem.complete("/e", "c2", write_blocks(namesystem, "/e", "c2", None, [10]))
    _, last = namesystem.append(SUPERUSER, "/e", "c3")
    assert namesystem.complete("/e", "c3", last)
    assert namesystem.file_info(SUPERUSER, "/e").length_bytes == 10


def test_append_refuses_what_hadoop_refuses():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 1)
    namesystem.mkdirs(SUPERUSER, "/d", 0o755, True)
    namesystem.create(SUPERUSER, "/d/f", 0o644, "c1", False, True, 1, 0)
    assert namesystem.complete("/d/f", "c1", None)
    with pytest.raises(FileNotFound):
        namesystem.append(SUPERUSER, "/d/missing", "c2")
    with pytest.raises(PathIsDirectory):
        namesystem.append(SUPERUSER, "/d", "c2")
    with pytest.raises(AccessControl):
        namesystem.append("alice", "/d/f", "c2")


def test_set_times_changes_the_modification_time():
    namesystem = make_namesystem()
    namesystem.mkdirs(SUPERUSER, "/t", 0o755, True)
    namesystem.set_times(SUPERUSER, "/t", 123456)
    assert namesystem.file_info(SUPERUSER, "/t").modification_time_ms == 123456
    namesystem.set_times(SUPERUSER, "/t", -1)
    assert namesystem.file_info(SUPERUSER, "/t").modification_time_ms == 123456
