"""MapReduce's operating errors: each reaches the user as one clear line."""

from emrlab_common.errors import Aborted, EmrlabError, FailedPrecondition


class JobFailed(EmrlabError):
    """A job did not succeed: a task failed all its attempts (the message carries the last
    attempt's error and stderr tail), or it was killed."""


class JobKilled(Aborted):
    """The job was killed on request."""


class TaskFailed(FailedPrecondition):
    """One attempt failed; the runner may try again."""
