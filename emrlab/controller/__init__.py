"""The cluster controller: EMR's control plane, one process on the primary node.

Reading order:
    records.py      states, transition tables, the records a cluster is made of (groups, instances, steps)
    messages.py     events in, edits kept (the journal), commands out
    state.py        the pure state machine: handle(event, now_s) -> commands; apply(edit)
      lifecycle.py  the cluster's start, stop (`cluster down`), termination, idle timeout
      instances.py  launches, failures, replacements, restarts
      steps.py      the step lifecycle, ActionOnFailure, StepConcurrencyLevel
      capacity.py   resizes and managed scaling
      spotrules.py  spot notices, kills and replacements
    market.py       the seeded spot market (pure functions)
    cost.py         the bill (pure functions of the state and the time)
    journal.py      the fsync'd journal, replayed through apply()
    shell.py        what the commands do with processes; the monitor that turns the world into events
      provisioning.py  launching, bootstrapping, decommissioning and stopping instances
      decommission.py  graceful decommission of a node, YARN first, HDFS for core nodes
      stepprocesses.py  each step as its own process, started, cancelled and watched
    server.py       the gRPC servicer (proto/emr.proto)
    http.py         the web page and its JSON twins
    __main__.py     the process: `python -m emrlab.controller --dir DIR`
    client.py, launch.py, definition.py, views.py, steprunner.py, jobcost.py, instancetypes.py: what commands use
"""
