"""MapReduce's operating errors: each reaches the user as one clear line."""

from emrlab_common.errors import Aborted, EmrlabError, FailedPrecondition, InvalidArgument


class JobFailed(EmrlabError):
    """A job did not succeed: a task failed all its attempts (the message carries the last
    attempt's error and stderr tail), or it was killed."""


class JobKilled(Aborted):
    """The job was killed on request."""


class TaskFailed(FailedPrecondition):
    """One attempt failed; the runner may try again."""


class BadRecord(InvalidArgument):
    """User code yielded something that is not a (key, value) pair."""


def reraise_bad_pair(error: Exception, function_name: str, producer: str) -> None:
    """If `error` was raised by unpacking a pair in `function_name` (the engine's loop over the
    user's output), raise a BadRecord naming the producer instead: the user's mistake, said
    plainly. Errors from inside the user's own code pass through unchanged."""
    last = error.__traceback__
    while last is not None and last.tb_next is not None:
        last = last.tb_next
    if last is not None and last.tb_frame.f_code.co_name == function_name:
        raise BadRecord(f"the {producer} must yield (key, value) pairs: {error}") from error


def as_pair(record, producer: str) -> tuple:
    """A (key, value) record from user code; anything else is the user's mistake, said plainly."""
    if type(record) is tuple and len(record) == 2:
        return record
    if isinstance(record, (tuple, list)) and len(record) == 2:
        return record[0], record[1]
    raise BadRecord(f"the {producer} must yield (key, value) pairs, not {record!r:.80}")
