"""MapReduce's operating errors: each reaches the user as one clear line."""

import os
import traceback

from emrlab_common.errors import Aborted, EmrlabError, FailedPrecondition, InvalidArgument

FRAMEWORK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # mapreduce/
USER_FRAMES_MAX = 12


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
        raise bad_pair(error, producer) from error


def bad_pair(error: Exception, producer: str) -> BadRecord:
    """The error for a record that did not unpack as a pair (`error`, unpacking's own)."""
    return BadRecord(f"the {producer} must yield (key, value) pairs: {error}")


def as_pair(record, producer: str) -> tuple:
    """A (key, value) record from user code; anything else is the user's mistake, said plainly."""
    if type(record) is tuple and len(record) == 2:
        return record
    if isinstance(record, (tuple, list)) and len(record) == 2:
        return record[0], record[1]
    raise BadRecord(f"the {producer} must yield (key, value) pairs, not {record!r:.80}")


def user_traceback(error: BaseException) -> str:
    """The traceback of an error in a user's mapper, combiner or reducer, as the user
    wants to read it: their own frames only (this package's are noise to them), or
    every frame when the error did not pass through user code."""
    frames = traceback.extract_tb(error.__traceback__)
    user_frames = [frame for frame in frames if not frame.filename.startswith(FRAMEWORK_DIR)]
    shown = (user_frames or frames)[-USER_FRAMES_MAX:]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(shown),
             *traceback.format_exception_only(type(error), error)]
    return "".join(lines).rstrip()
