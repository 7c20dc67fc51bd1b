"""Partitioners: which reduce task gets a key.

Every map task must send a key to the same reducer, so the choice must not
depend on the process: Python's `hash()` of a str changes from process to
process (PYTHONHASHSEED), so the default hashes the key's encoded bytes with
CRC-32 instead. A partitioner sees both the encoded key and the key itself.

    HashPartitioner()                      # Hadoop's default
    KeyFieldPartitioner(fields=1)          # by the first element of a list key
                                           # (or the first TAB-separated field of a str)
    TotalOrderPartitioner(boundaries)      # ranges: partition i holds keys < boundaries[i]

Plug one in by overriding `Job.partitioner()`.
"""

from __future__ import annotations

import bisect
import zlib
from typing import Protocol

from mapreduce.api.keys import encode_key


class Partitioner(Protocol):
    def partition(self, encoded_key: bytes, key, num_partitions: int) -> int: ...


def partition_all(partitioner, encoded_keys: list[bytes], keys: list, num_partitions: int) -> list[int]:
    """The partition of each key: one batch call where the partitioner has one (`partition_all`),
    else a `partition` call per key."""
    batch = getattr(partitioner, "partition_all", None)
    if batch is not None:
        return batch(encoded_keys, keys, num_partitions)
    partition = partitioner.partition
    return [partition(encoded, key, num_partitions) for encoded, key in zip(encoded_keys, keys)]


class HashPartitioner:
    """CRC-32 of the encoded key, modulo the number of reducers: stable everywhere."""

    def partition(self, encoded_key: bytes, key, num_partitions: int) -> int:
        return zlib.crc32(encoded_key) % num_partitions

    def partition_all(self, encoded_keys: list[bytes], keys: list, num_partitions: int) -> list[int]:
        if type(self).partition is not HashPartitioner.partition:  # a subclass with a rule of its own
            return [self.partition(encoded, key, num_partitions) for encoded, key in zip(encoded_keys, keys)]
        return list(map(num_partitions.__rmod__, map(zlib.crc32, encoded_keys)))


class KeyFieldPartitioner:
    """Hash only a prefix of the key, so related keys meet in one reducer (secondary sort):
    the first `fields` elements of a list key, or the first `fields` fields of a str key."""

    def __init__(self, fields: int = 1, separator: str = "\t"):
        self.fields = fields
        self.separator = separator

    def partition(self, encoded_key: bytes, key, num_partitions: int) -> int:
        if isinstance(key, (list, tuple)):
            prefix = encode_key(list(key[:self.fields]))
        elif isinstance(key, str):
            prefix = encode_key(self.separator.join(key.split(self.separator)[:self.fields]))
        else:
            prefix = encoded_key
        return zlib.crc32(prefix) % num_partitions


class TotalOrderPartitioner:
    """Range partitioning for a total order across reducers: with sorted boundary keys
    b0 < b1 < ..., partition 0 gets keys < b0, partition 1 keys in [b0, b1), and so on;
    concatenating part-r-00000, part-r-00001, ... then gives one sorted output."""

    def __init__(self, boundaries: list):
        self.encoded_boundaries = sorted(encode_key(boundary) for boundary in boundaries)

    def partition(self, encoded_key: bytes, key, num_partitions: int) -> int:
        return min(bisect.bisect_right(self.encoded_boundaries, encoded_key), num_partitions - 1)


def sample_boundaries(sample_keys: list, num_partitions: int) -> list:
    """Boundaries that cut a sorted sample of keys into `num_partitions` equal ranges."""
    ordered = sorted(sample_keys, key=encode_key)
    if not ordered or num_partitions <= 1:
        return []
    return [ordered[len(ordered) * index // num_partitions] for index in range(1, num_partitions)]
