"""Per-chunk CRC32C checksums, as HDFS keeps them beside every block.

A block's bytes are cut into chunks of `dfs.bytes-per-checksum` bytes (512 by
default); each chunk has a 4-byte big-endian CRC32C. Writers compute them,
the last DataNode of a pipeline and every reader verify them, and a DataNode
keeps them in the block's `.meta` file, so corruption on disk is found by the
next read or by the background scanner, wherever it happened.

CRC32C comes from the `crc32c` package, which uses the CPU's CRC instruction:
the same algorithm as Hadoop's default `dfs.checksum.type=CRC32C`.
"""

from __future__ import annotations

import struct

from crc32c import crc32c

from hdfs.errors import ChecksumMismatch

CHECKSUM_BYTES = 4
META_VERSION = 1
META_HEADER = struct.Struct(">HBI")  # version, checksum type (2 = CRC32C as in Hadoop), bytes per checksum
CHECKSUM_TYPE_CRC32C = 2


def chunk_checksums(data: bytes | memoryview, bytes_per_checksum: int) -> bytes:
    """The packed checksums of `data`, one per chunk (the last may be shorter)."""
    view = memoryview(data)
    values = [crc32c(view[start:start + bytes_per_checksum]) for start in range(0, len(view), bytes_per_checksum)]
    return struct.pack(f">{len(values)}I", *values)


def first_mismatch(data: bytes | memoryview, checksums: bytes, bytes_per_checksum: int) -> int | None:
    """Index of the first chunk whose checksum does not match, or None if all do."""
    expected_chunks = (len(data) + bytes_per_checksum - 1) // bytes_per_checksum
    if len(checksums) != expected_chunks * CHECKSUM_BYTES:
        return 0
    actual = chunk_checksums(data, bytes_per_checksum)
    if actual == checksums:
        return None
    for index in range(expected_chunks):
        position = index * CHECKSUM_BYTES
        if actual[position:position + CHECKSUM_BYTES] != checksums[position:position + CHECKSUM_BYTES]:
            return index
    raise AssertionError("checksums differ but no chunk does")


def meta_header(bytes_per_checksum: int) -> bytes:
    return META_HEADER.pack(META_VERSION, CHECKSUM_TYPE_CRC32C, bytes_per_checksum)


def parse_meta_header(header: bytes) -> int:
    """The bytes-per-checksum of a `.meta` file, from its header; ChecksumMismatch if it is damaged."""
    if len(header) != META_HEADER.size:
        raise ChecksumMismatch(f"meta header is {len(header)} bytes, not {META_HEADER.size}: the .meta file is damaged")
    version, checksum_type, bytes_per_checksum = META_HEADER.unpack(header)
    if version != META_VERSION or checksum_type != CHECKSUM_TYPE_CRC32C or bytes_per_checksum == 0:
        raise ChecksumMismatch(f"unsupported meta header {version}/{checksum_type}/{bytes_per_checksum}: "
                               f"the .meta file is damaged")
    return bytes_per_checksum
