"""Unit tests of a DataNode replica's lifecycle (storage.py's REPLICA_TRANSITIONS): RBW, FINALIZED, RUR,
the transitions the storage makes, and that an illegal one fails loudly."""

from __future__ import annotations

import pytest

from emrlab_common.errors import FailedPrecondition
from emrlab_common.lifecycle import InvalidTransition
from hdfs import checksum
from hdfs.datanode.storage import REPLICA_TRANSITIONS, ReplicaEvent, ReplicaState, Storage
from hdfs.errors import FileAlreadyExists, FileNotFound


def written(storage: Storage, block_id: int, data: bytes, stamp: int = 1001):
    writer = storage.create_rbw(block_id, stamp, 512)
    writer.write(0, data, checksum.chunk_checksums(data, 512))
    return writer


def test_every_state_has_a_way_out_but_finalized_only_into_recovery():
    assert {state for state, _ in REPLICA_TRANSITIONS} == set(ReplicaState)
    assert {event for state, event in REPLICA_TRANSITIONS if state is ReplicaState.FINALIZED} == {
        ReplicaEvent.BEGIN_RECOVERY}


def test_a_write_makes_rbw_then_finalized_and_a_second_finalize_is_a_bug(tmp_path):
    storage = Storage(tmp_path)
    writer = written(storage, 7, b"bytes")
    assert writer.replica.state is ReplicaState.RBW
    replica = storage.finalize(writer)
    assert replica.state is ReplicaState.FINALIZED and storage.get_finalized(7, 1001) is replica
    with pytest.raises(InvalidTransition, match="finalize in state finalized"):
        replica.handle(ReplicaEvent.FINALIZE)
    with pytest.raises(InvalidTransition, match="recovered in state finalized"):
        replica.handle(ReplicaEvent.RECOVERED)


def test_a_recovery_takes_a_replica_being_written_from_its_writer(tmp_path):
    storage = Storage(tmp_path)
    writer = written(storage, 7, b"x" * 1000)
    replica = writer.replica
    storage.begin_recovery(replica, 1002)
    assert replica.state is ReplicaState.RUR and replica.recovery_id == 1002
    with pytest.raises(FailedPrecondition, match="no more writes"):
        writer.write(1000, b"y", checksum.chunk_checksums(b"y", 512))
    with pytest.raises(FailedPrecondition, match="its recovery finalizes it"):
        storage.finalize(writer)
    storage.abort(writer)  # the failed write's clean-up leaves the recovery's replica alone
    assert storage.get(7) is replica and replica.block_path.exists()
    with pytest.raises(FileAlreadyExists):
        written(storage, 7, b"new pipeline", stamp=1003)  # nor does a new write replace it
    with pytest.raises(FileNotFound, match="not finalized"):
        storage.get_finalized(7, 1001)  # nobody reads it meanwhile
    storage.begin_recovery(replica, 1004)  # the NameNode tried again: the newer recovery takes it over
    with pytest.raises(FailedPrecondition, match="under a newer recovery 1004"):
        storage.begin_recovery(replica, 1003)
    with pytest.raises(FailedPrecondition, match="not under recovery 1002"):
        storage.recover(7, 1002, 600)
    recovered = storage.recover(7, 1004, 600)
    assert recovered is replica and replica.state is ReplicaState.FINALIZED and replica.recovery_id == 0
    assert storage.get_finalized(7, 1004).length_bytes == 600 == replica.block_path.stat().st_size


def test_a_finalized_replica_can_be_recovered_and_a_restart_forgets_the_recovery(tmp_path):
    storage = Storage(tmp_path)
    replica = storage.finalize(written(storage, 7, b"finalized"))
    storage.begin_recovery(replica, 1002)
    assert replica.state is ReplicaState.RUR
    again = Storage(tmp_path)  # the recovery lived in memory only; the files say finalized
    assert again.get(7).state is ReplicaState.FINALIZED and again.get(7).generation_stamp == 1001
