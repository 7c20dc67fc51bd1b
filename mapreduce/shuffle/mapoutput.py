"""Where a map attempt's output lives on its node, and reading one partition of it safely.

A map attempt in a container writes `file.out` and `file.out.index` to

    <application dir>/output/<map attempt id>/

where the application dir is the NodeManager's per-application local dir
(`LOCAL_DIRS` in the container; Hadoop: usercache/<user>/appcache/<app id>).
It outlives the container and is deleted when the application finishes, so
the shuffle service can serve the output after the map's container is gone.

Fetch requests come from the network: ids are checked against Hadoop's id
shapes, the attempt must belong to the job, and the resolved path must stay
inside the application dir, so no request can read another file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from emrlab_common.errors import InvalidArgument, NotFound
from mapreduce.appmaster.records import ATTEMPT_ID_PATTERN, application_id_for, is_job_id
from mapreduce.task.segments import (
    INDEX_ENTRY,
    MAP_OUTPUT_FILE,
    MAP_OUTPUT_INDEX_FILE,
    map_output_dir,
    read_index_entry,
)

CHUNK_BYTES = 1 << 20


def check_fetch(job_id: str, map_attempt_id: str) -> str:
    """The application id of a well-formed (job, map attempt) pair; else InvalidArgument."""
    if not is_job_id(job_id):
        raise InvalidArgument(f"invalid job id {job_id!r}")
    if not ATTEMPT_ID_PATTERN.match(map_attempt_id) or "_m_" not in map_attempt_id:
        raise InvalidArgument(f"invalid map attempt id {map_attempt_id!r}")
    if not map_attempt_id.startswith(job_id.replace("job_", "attempt_", 1) + "_"):
        raise InvalidArgument(f"map attempt {map_attempt_id} is not of job {job_id}")
    return application_id_for(job_id)


def read_partition(application_dir: Path, map_attempt_id: str, partition: int,
                   chunk_bytes: int = CHUNK_BYTES) -> tuple[int, int, Iterator[bytes]]:
    """(segment length, records, chunks) of one reduce partition of a map attempt's output."""
    directory = map_output_dir(application_dir, map_attempt_id).resolve()
    if not directory.is_relative_to(Path(application_dir).resolve()):
        raise InvalidArgument(f"map attempt {map_attempt_id!r} escapes the application dir")
    index_path, data_path = directory / MAP_OUTPUT_INDEX_FILE, directory / MAP_OUTPUT_FILE
    try:
        entries = index_path.stat().st_size // INDEX_ENTRY.size
        data = open(data_path, "rb")
    except FileNotFoundError:
        raise NotFound(f"no map output of {map_attempt_id} on this node") from None
    if not 0 <= partition < entries:
        data.close()
        raise InvalidArgument(f"partition {partition} out of range for {map_attempt_id} ({entries} partitions)")
    entry = read_index_entry(str(index_path), partition)
    offset, length, records = entry.offset, entry.length, entry.records

    def chunks() -> Iterator[bytes]:
        with data:
            data.seek(offset)
            remaining = length
            while remaining > 0:
                chunk = data.read(min(chunk_bytes, remaining))
                if not chunk:
                    raise NotFound(f"map output of {map_attempt_id} is truncated")
                remaining -= len(chunk)
                yield chunk

    return length, records, chunks()


