"""The shuffle: map output served by each NodeManager, copied by reducers.

    handler.py    ShuffleHandler, the NodeManager aux service "mapreduce_shuffle"
    service.py    its gRPC servicer: one partition of one map attempt's output
    mapoutput.py  where map output lives on a node, read safely
    scheduler.py  the reducer's side, decisions: which output next, host penalties, when to give up
    fetcher.py    the reducer's side, I/O: copy its partition from every finished map

A NodeManager loads the handler as `mapreduce.shuffle:ShuffleHandler`
(yarn.nodemanager.aux-services.mapreduce_shuffle.class, as on EMR).
"""


def __getattr__(name: str):
    # Imported on first use, so that reducers (fetcher.py) do not load NodeManager code.
    if name == "ShuffleHandler":
        from mapreduce.shuffle.handler import ShuffleHandler

        return ShuffleHandler
    raise AttributeError(name)
