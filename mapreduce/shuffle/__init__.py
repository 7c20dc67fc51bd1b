"""The shuffle's serving side: map output served by each NodeManager (Hadoop's mapreduce-client-shuffle).

    handler.py    ShuffleHandler, the NodeManager aux service "mapreduce_shuffle"
    service.py    its gRPC servicer: one partition of one map attempt's output
    mapoutput.py  reading map output on a node, safely (where it lives: task/segments.py)

The reducers copy it with `mapreduce/task/reduce/` (scheduler.py, fetcher.py), the task side.

A NodeManager loads the handler as `mapreduce.shuffle:ShuffleHandler`
(yarn.nodemanager.aux-services.mapreduce_shuffle.class, as on EMR).
"""


def __getattr__(name: str):
    # Imported on first use, so that importing mapoutput.py does not load NodeManager code.
    if name == "ShuffleHandler":
        from mapreduce.shuffle.handler import ShuffleHandler

        return ShuffleHandler
    raise AttributeError(name)
