"""The fault harness's MapReduce side: word-count jobs that run beside the HDFS writers and readers.

Each job thread, in a loop, writes a corpus to HDFS, computes its word counts
here (the reference: `word_counts`, a `collections.Counter`), runs `WordCount` on the
cluster, and records what came of it:

  - SUCCEEDED (ok): its output, read back, must equal the reference exactly;
  - failed: the job said why; the reason must be a clear diagnostic (not
    empty, not a bare "did not succeed", not a Python traceback);
  - unknown: the client lost the answer (the job may still have finished);
    if its output has _SUCCESS at the end, it must equal the reference too.

A job still running long after the nemesis stopped is a hang, which the
checker reports.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from emrlab_common.errors import DeadlineExceeded, EmrlabError, NotFound, Unavailable
from hdfs import Client
from tests.test_mapreduce_cluster import corpus, output_of, run_on_cluster, word_counts

CORPUS_LINES = (8_000, 40_000)   # 60 KB to 1.6 MB: one or two 1 MiB blocks, so one or two maps
JOB_PROPERTIES = {"mapreduce.job.reduces": "2"}
GENERIC_DIAGNOSTICS = ("", "the job did not succeed")


@dataclass
class JobRecord:
    name: str
    output_dir: str
    reference: dict[str, int]
    outcome: str = "invoked"  # then ok, failed or unknown
    diagnostic: str = ""


def job_runner(cluster, history, index: int, seed: int, stop: threading.Event) -> None:
    """Run jobs one after another until `stop`; `cluster` has a `cluster_dir`, `history` is the harness's History."""
    rng = random.Random(seed * 1000 + 500 + index)
    number = 0
    while not stop.is_set():
        number += 1
        base = f"/faults/jobs/job-{index}-{number}"
        data = corpus(rng.randint(*CORPUS_LINES), seed=rng.randrange(1 << 30))
        try:
            with Client.for_cluster(cluster.cluster_dir) as client:
                client.write_bytes(f"{base}/input.txt", data)
        except Exception:  # noqa: BLE001 - the writers account for writes (and crashes); a job needs its input whole
            stop.wait(0.5)
            continue
        job = JobRecord(base, f"{base}/output", word_counts(data))
        with history.lock:
            history.jobs.append(job)
        history.invoke()
        try:
            run_on_cluster(cluster, "mapreduce.examples.wordcount:WordCount", [f"{base}/input.txt"], job.output_dir,
                           JOB_PROPERTIES)
        except (Unavailable, DeadlineExceeded) as error:
            job.outcome, job.diagnostic = "unknown", error.message
        except EmrlabError as error:
            job.outcome, job.diagnostic = "failed", error.message
        except Exception as error:  # noqa: BLE001 - what the harness looks for
            job.outcome = "unknown"
            history.crashed(f"job {base}", error)
            continue
        else:
            job.outcome = "ok"
        history.record(job.outcome)


def diagnostic_is_clear(message: str) -> bool:
    reason = message.split(" failed: ", 1)[-1].split(" was killed: ", 1)[-1].strip()
    return reason not in GENERIC_DIAGNOSTICS and "Traceback (most recent call last)" not in reason


def job_output(client: Client, output_dir: str) -> dict[str, int] | None:
    """The word counts in a job's output, None if it has no _SUCCESS (it did not commit)."""
    try:
        if not client.exists(f"{output_dir}/_SUCCESS"):
            return None
    except NotFound:
        return None
    counts: dict[str, int] = {}
    for line in output_of(client, output_dir):
        word, count = line.rsplit("\t", 1)
        if word in counts:
            raise ValueError(f"{word!r} twice in {output_dir}")
        counts[word] = int(count)
    return counts


def check_jobs(client: Client, jobs: list[JobRecord]) -> list[str]:
    """What the jobs got wrong: a wrong output, an unclear failure, a job that never ended."""
    problems = []
    for job in jobs:
        if job.outcome == "invoked":
            problems.append(f"job {job.name}: still running after the nemesis stopped (a hang)")
            continue
        if job.outcome == "failed" and not diagnostic_is_clear(job.diagnostic):
            problems.append(f"job {job.name}: failed without a clear diagnostic: {job.diagnostic!r}")
        try:
            output = job_output(client, job.output_dir)
        except (EmrlabError, ValueError) as error:
            problems.append(f"job {job.name}: output unreadable: {getattr(error, 'message', error)}")
            continue
        if job.outcome == "ok" and output is None:
            problems.append(f"job {job.name}: SUCCEEDED but its output has no _SUCCESS")
        elif output is not None and output != job.reference:
            wrong = sorted(word for word in set(output) | set(job.reference)
                           if output.get(word) != job.reference.get(word))
            problems.append(f"job {job.name} ({job.outcome}): output differs from the reference at {wrong[:5]}")
    return problems
