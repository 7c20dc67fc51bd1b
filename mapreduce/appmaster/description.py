"""The job as the client hands it to the AM: `job.json` in the job's staging dir.

The cluster runner writes it next to the job's files in HDFS
(/tmp/hadoop-yarn/staging/<user>/.staging/<job id>/), YARN localizes both into
the AM's and every task's working directory, and the AM reads it at start.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

DESCRIPTION_FILE = "job.json"
STAGING_ROOT = "/tmp/hadoop-yarn/staging"
APPLICATION_TYPE = "MAPREDUCE"


def staging_dir(user: str, job_id: str) -> str:
    return f"{STAGING_ROOT}/{user}/.staging/{job_id}"


@dataclass(frozen=True)
class JobDescription:
    job_id: str
    name: str
    user: str
    job_reference: str                 # relative to a container's working dir ("job.py:WordCount"), or a module
    input_paths: tuple[str, ...]
    output_dir: str
    staging_dir: str
    job_arguments: tuple[str, ...] = ()
    properties: dict = field(default_factory=dict)
    local_resources: dict = field(default_factory=dict)  # name in the working dir -> hdfs:///... (every task)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobDescription:
        values = json.loads(text)
        values["input_paths"] = tuple(values["input_paths"])
        values["job_arguments"] = tuple(values["job_arguments"])
        return cls(**values)
