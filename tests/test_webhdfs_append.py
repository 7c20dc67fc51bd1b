"""HDFS append (what WebHDFS APPEND and `dfs -appendToFile` need), on the NameNode's state machine alone."""

import pytest

from hdfs.errors import (
    AccessControl,
    AlreadyBeingCreated,
    FileNotFound,
    PathIsDirectory,
)
from hdfs.namenode.blocks import BlockState
from hdfs.namenode.events import (
    AddBlock,
    Append,
    BlockRef,
    BlocksReceivedAndDeleted,
    Complete,
    Create,
    Mkdirs,
    SetTimes,
)
from tests.namenode_fixtures import SUPERUSER, add_datanodes, make_namesystem, run


def write_blocks(namesystem, path, client, previous, sizes):
    """Add blocks of `sizes` after `previous`, each reported by its whole pipeline; return the last."""
    for size in sizes:
        located = run(namesystem, AddBlock(SUPERUSER, path, client, previous, frozenset(), "")).located
        previous = BlockRef(located.block.block_id, located.block.generation_stamp, size)
        for node in located.locations:
            run(namesystem, BlocksReceivedAndDeleted(node.uuid, (previous,), ()))
    return previous


def test_append_reopens_a_closed_file_and_new_bytes_go_into_new_blocks():
    journal = []
    namesystem = make_namesystem(journal=journal.append)
    add_datanodes(namesystem, 3)
    run(namesystem, Create(SUPERUSER, "/f", 0o644, "c1", False, True, 3, 0))
    first = write_blocks(namesystem, "/f", "c1", None, [100])
    assert run(namesystem, Complete("/f", "c1", first)).completed
    appended = run(namesystem, Append(SUPERUSER, "/f", "c2"))
    status, last = appended.status, appended.last_block
    assert status.under_construction and last.block_id == first.block_id and last.length_bytes == 100
    with pytest.raises(AlreadyBeingCreated):
        run(namesystem, Append(SUPERUSER, "/f", "c3"))
    second = write_blocks(namesystem, "/f", "c2", last, [50])
    assert namesystem.file_info(SUPERUSER, "/f").length_bytes == 100  # the block being written is not counted yet
    assert run(namesystem, Complete("/f", "c2", second)).completed
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
    run(namesystem, Create(SUPERUSER, "/e", 0o644, "c1", False, True, 1, 0))
    assert run(namesystem, Complete("/e", "c1", None)).completed
    last = run(namesystem, Append(SUPERUSER, "/e", "c2")).last_block
    assert last is None
    assert run(namesystem, Complete("/e", "c2", write_blocks(namesystem, "/e", "c2", None, [10]))).completed
    last = run(namesystem, Append(SUPERUSER, "/e", "c3")).last_block
    assert run(namesystem, Complete("/e", "c3", last)).completed
    assert namesystem.file_info(SUPERUSER, "/e").length_bytes == 10


def test_append_refuses_what_hadoop_refuses():
    namesystem = make_namesystem()
    add_datanodes(namesystem, 1)
    run(namesystem, Mkdirs(SUPERUSER, "/d", 0o755, True))
    run(namesystem, Create(SUPERUSER, "/d/f", 0o644, "c1", False, True, 1, 0))
    assert run(namesystem, Complete("/d/f", "c1", None)).completed
    with pytest.raises(FileNotFound):
        run(namesystem, Append(SUPERUSER, "/d/missing", "c2"))
    with pytest.raises(PathIsDirectory):
        run(namesystem, Append(SUPERUSER, "/d", "c2"))
    with pytest.raises(AccessControl):
        run(namesystem, Append("alice", "/d/f", "c2"))


def test_set_times_changes_the_modification_time():
    namesystem = make_namesystem()
    run(namesystem, Mkdirs(SUPERUSER, "/t", 0o755, True))
    run(namesystem, SetTimes(SUPERUSER, "/t", 123456))
    assert namesystem.file_info(SUPERUSER, "/t").modification_time_ms == 123456
    run(namesystem, SetTimes(SUPERUSER, "/t", -1))
    assert namesystem.file_info(SUPERUSER, "/t").modification_time_ms == 123456
