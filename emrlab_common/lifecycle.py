"""Lifecycles as transition tables: one lookup, one log line, one kind of bug."""

from __future__ import annotations

import enum
import logging

logger = logging.getLogger(__name__)


class InvalidTransition(AssertionError):
    """A programmer error: an event the current state does not accept."""


def next_state(table: dict[tuple[enum.Enum, enum.Enum], enum.Enum], state: enum.Enum, event: enum.Enum,
               subject: str, cause: str = "") -> enum.Enum:
    """The state `event` leads to from `state`, logged as one line of the subject's trace."""
    target = table.get((state, event))
    if target is None:
        raise InvalidTransition(f"{subject}: {event.value} in state {state.value}")
    logger.info("%s %s -> %s on %s%s", subject, state.value, target.value, event.value, f" ({cause})" if cause else "")
    return target
