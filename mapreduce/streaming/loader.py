"""Finding a job's class from its reference: "path/to/job.py:WordCount" or "package.module:Class".

A task process gets the reference in its `TaskAttempt` and loads the class
itself: job code never crosses a process boundary as pickles. A file already
imported in this process (the job file run as a script, or a test module) is
reused rather than executed again.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys

from emrlab_common.errors import InvalidArgument, NotFound


def reference_of(job_class: type) -> str:
    """The reference a task process can load `job_class` from."""
    if job_class.__module__.startswith("mapreduce."):
        return f"{job_class.__module__}:{job_class.__qualname__}"
    # Any other module (a script run as __main__, a test module) may not be importable by
    # name in another process; its file always is.
    return f"{os.path.abspath(inspect.getfile(job_class))}:{job_class.__qualname__}"


def load_job_class(reference: str) -> type:
    location, separator, class_name = reference.rpartition(":")
    if not separator:
        location, class_name = reference, ""
    module = _load_file(location) if location.endswith(".py") else _load_module(location)
    if not class_name:
        return find_job_class(module, location)
    try:
        value = module
        for part in class_name.split("."):
            value = getattr(value, part)
        return value
    except AttributeError:
        raise NotFound(f"{location} has no class {class_name}") from None


def _load_module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise NotFound(f"cannot import job module {name}: {error}") from None


def _load_file(path: str):
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise NotFound(f"job file {path} does not exist")
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) and os.path.abspath(module.__file__) == path:
            return module
    name = "emrlab_job_" + "".join(c if c.isalnum() else "_" for c in os.path.splitext(path)[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        del sys.modules[name]
        raise InvalidArgument(f"{path}: syntax error at line {error.lineno}: {error.msg}") from None
    return module


def is_mrjob_class(value) -> bool:
    return inspect.isclass(value) and any(
        base.__name__ == "MRJob" and base.__module__.startswith("mrjob") for base in value.__mro__)


def find_job_class(module, location: str) -> type:
    """The one job class a file defines (a Job or an mrjob MRJob subclass)."""
    from mapreduce.api.job import Job

    candidates = [value for value in vars(module).values()
                  if inspect.isclass(value) and value.__module__ == module.__name__
                  and ((issubclass(value, Job) and value is not Job) or is_mrjob_class(value))]
    if not candidates:
        raise NotFound(f"{location} defines no job class (a subclass of mapreduce.Job or mrjob's MRJob)")
    if len(candidates) > 1:
        # Subclasses of other candidates win: a file may define a base job and its refinement.
        leaves = [c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)]
        if len(leaves) != 1:
            names = ", ".join(sorted(c.__name__ for c in candidates))
            raise InvalidArgument(f"{location} defines several job classes ({names}): name one as FILE.py:Class")
        return leaves[0]
    return candidates[0]


def instantiate(job_class: type, arguments: list[str]):
    """A job object the tasks can drive: the class itself, or an adapter for an mrjob MRJob."""
    if is_mrjob_class(job_class):
        from mapreduce.streaming.mrjob_compat import MRJobAdapter

        return MRJobAdapter(job_class, arguments)
    return job_class(args=list(arguments))
