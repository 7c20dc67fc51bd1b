"""A DataNode whose disk fills up mid-write: the write fails and is cleaned up; it never leaves its
pipeline waiting for an ack (found by the fault harness's fill-disk: the clean-up hit ENOSPC again,
the ERROR ack was never sent, and every writer through that node hung)."""

from hdfs.datanode.storage import Storage


def test_aborting_a_write_on_a_full_disk_deletes_the_replica_without_raising(tmp_path):
    storage = Storage(tmp_path / "data")
    writer = storage.create_rbw(block_id=1, generation_stamp=1001, bytes_per_checksum=512)
    writer.block_file.close()
    writer.block_file = open("/dev/full", "wb")  # noqa: SIM115 - a disk with no room: a flush fails with ENOSPC
    writer.block_file.write(b"x" * 4096)
    storage.abort(writer)
    assert writer.block_file.closed and writer.meta_file.closed
    assert storage.get(1) is None
    assert not list((tmp_path / "data").rglob("blk_1*"))
