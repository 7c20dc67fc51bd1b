"""Safe mode: read-only until enough of the namespace is readable.

At start the NameNode knows every block but no replica (locations are
rebuilt from block reports), so it refuses changes and re-replication until
`threshold-pct` of blocks have `replication.min` live replicas and
`min.datanodes` DataNodes are live, then waits `extension` more and leaves by
itself. An administrator can also enter it by hand (`dfsadmin -safemode
enter`); then only `leave` ends it.
"""

from __future__ import annotations

import enum
import logging

from emrlab_common.lifecycle import next_state
from hdfs.namenode.config import NameNodeConfig

logger = logging.getLogger(__name__)


class SafeModeState(enum.Enum):
    STARTUP = "startup"  # leaves by itself once the thresholds hold
    MANUAL = "manual"    # entered by an administrator; left only by one
    OFF = "off"


class SafeModeEvent(enum.Enum):
    ENTER = "dfsadmin -safemode enter"
    LEAVE = "dfsadmin -safemode leave"
    THRESHOLDS_MET = "thresholds met"  # enough blocks safe and DataNodes live, for the extension


_S, _E = SafeModeState, SafeModeEvent
TRANSITIONS: dict[tuple[SafeModeState, SafeModeEvent], SafeModeState] = {
    **{(state, _E.ENTER): _S.MANUAL for state in SafeModeState},
    (_S.STARTUP, _E.LEAVE): _S.OFF,
    (_S.MANUAL, _E.LEAVE): _S.OFF,
    (_S.STARTUP, _E.THRESHOLDS_MET): _S.OFF,
}


class SafeMode:
    def __init__(self, config: NameNodeConfig):
        self.config = config
        self.state = SafeModeState.STARTUP
        self.threshold_reached_s: float | None = None
        self.status = "Safe mode is ON. Waiting for block reports."

    @property
    def on(self) -> bool:
        return self.state is not SafeModeState.OFF

    def enter(self) -> None:
        self._handle(SafeModeEvent.ENTER)
        self.status = "Safe mode is ON. It was turned on manually. Use \"dfsadmin -safemode leave\" to turn it off."

    def leave(self, event: SafeModeEvent = SafeModeEvent.LEAVE) -> None:
        if self.on:
            self._handle(event)
        self.status = "Safe mode is OFF."

    def _handle(self, event: SafeModeEvent) -> None:
        self.state = next_state(TRANSITIONS, self.state, event, "safe mode")

    def update(self, safe_blocks: int, total_blocks: int, live_datanodes: int, now_s: float) -> bool:
        """Re-evaluate startup safe mode; True when it has just been left."""
        if self.state is not SafeModeState.STARTUP:
            return False
        threshold_blocks = int(total_blocks * self.config.safemode_threshold)
        blocks_ok = safe_blocks >= threshold_blocks
        nodes_ok = live_datanodes >= self.config.safemode_datanodes_min
        status = (f"Safe mode is ON. The reported blocks {safe_blocks} "
                  f"{'has reached' if blocks_ok else 'needs additional ' + str(threshold_blocks - safe_blocks) + ' blocks to reach'}"
                  f" the threshold {self.config.safemode_threshold:.4f} of total blocks {total_blocks}. "
                  f"The number of live datanodes {live_datanodes} "
                  f"{'has reached' if nodes_ok else 'has not reached'} the minimum number {self.config.safemode_datanodes_min}.")
        if not (blocks_ok and nodes_ok):
            self.threshold_reached_s = None
            self.status = status
            return False
        if self.threshold_reached_s is None:
            self.threshold_reached_s = now_s
        if total_blocks == 0:
            self.leave(SafeModeEvent.THRESHOLDS_MET)  # a new, empty namespace has nothing to wait for
            return True
        remaining_s = self.threshold_reached_s + self.config.safemode_extension_s - now_s
        if remaining_s > 0:
            self.status = f"{status} In safe mode extension. Safe mode will be turned off automatically in {remaining_s:.0f} seconds."
            return False
        self.leave(SafeModeEvent.THRESHOLDS_MET)
        return True
