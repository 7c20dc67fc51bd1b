"""The inline runner: every attempt in this process, one after another.

For debugging (a breakpoint in a mapper just works) and for students' unit
tests. It still splits the input in two or more maps and uses two reducers by
default, so that a job that silently depends on one map or one reducer fails
here first. A failed attempt fails the job at once, with the user's traceback.
"""

from __future__ import annotations


from mapreduce.api import counters as names
from mapreduce.api.errors import JobFailed, user_traceback
from mapreduce.runners.engine import LocalEngine
from mapreduce.task.attempt import NullReporter, run_map_attempt, run_reduce_attempt



class InlineRunner(LocalEngine):
    name = "inline"

    def run_attempts(self, kind, count, attempt_for, fs, source, progress, job_counters, commit):
        results = []
        launched = names.TOTAL_LAUNCHED_MAPS if kind == "map" else names.TOTAL_LAUNCHED_REDUCES
        for task_index in range(count):
            attempt = attempt_for(task_index, 0)
            job_counters.increment(names.JOB_COUNTER, launched)
            try:
                if kind == "map":
                    result = run_map_attempt(attempt, fs, NullReporter())
                else:
                    result = run_reduce_attempt(attempt, fs, source, NullReporter())
            except Exception as error:
                failed = names.NUM_FAILED_MAPS if kind == "map" else names.NUM_FAILED_REDUCES
                job_counters.increment(names.JOB_COUNTER, failed)
                raise JobFailed(f"Task failed {attempt.task_id}: {attempt.attempt_id} failed: "
                                f"{user_traceback(error)}") from error
            if commit is not None:
                commit(attempt)
            results.append(result)
            progress((task_index + 1) / count)
        return results
