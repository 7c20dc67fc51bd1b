"""A job that loads on the client but not in a YARN container: the ApplicationMaster cannot start it."""

import os

from mapreduce import Job

if os.environ.get("CONTAINER_ID"):
    raise RuntimeError("this job refuses to load inside a container")


class FailsInContainers(Job):
    def mapper(self, _, line):
        yield line, 1
