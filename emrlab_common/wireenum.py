"""Lifecycle states on the wire: a Python enum and its proto enum, converted in one place.

Code on every side uses the Python enums of its subsystem's records
(`ApplicationState.RUNNING`, printed and logged by their Hadoop names); the
wire carries proto enums with Hadoop's names (`YarnApplicationStateProto.RUNNING`,
`ContainerStateProto.C_RUNNING`: proto enum values share their package's
scope, so Hadoop prefixes most of them). A `WireEnum` pairs the two.

A proto enum's zero (`*_UNSPECIFIED`) means "not set": proto3 needs one, it
is never sent, and it is refused when it arrives, as is a number this side
does not know (proto3 keeps unknown numbers rather than failing the parse):
one `InvalidArgument` naming the field, which a servicer turns into one gRPC
status and a command into one line.
"""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

from emrlab_common.errors import InvalidArgument

Member = TypeVar("Member", bound=enum.Enum)


class WireEnum(Generic[Member]):
    """`python_enum`'s members as the values of `proto_enum` named `prefix` + the member's value (or,
    `by_name`, + the member's name: for values that are words, not identifiers, such as "map output")."""

    def __init__(self, python_enum: type[Member], proto_enum, prefix: str = "", by_name: bool = False):
        self.proto_name = proto_enum.DESCRIPTOR.name
        self.python_enum = python_enum
        # Value() raises at import for a member the proto lacks: a programmer error, caught by any test.
        self._numbers = {member: proto_enum.Value(prefix + (member.name if by_name else member.value))
                         for member in python_enum}
        self._members = {number: member for member, number in self._numbers.items()}
        unmatched = set(proto_enum.values()) - set(self._members) - {0}
        assert not unmatched, f"{self.proto_name} values without a {python_enum.__name__}: {unmatched}"
        assert 0 not in self._members, f"{self.proto_name}'s zero must mean unset, not a state"

    def to_proto(self, member: Member) -> int:
        return self._numbers[member]

    def from_proto(self, number: int, field: str) -> Member:
        """The member for a received number; `field` ("NodeReport.state") names it in the error."""
        member = self._members.get(number)
        if member is None:
            known = ", ".join(member.value for member in self._numbers)
            raise InvalidArgument(f"{field}: {number} is not a known {self.proto_name} value ({known})")
        return member
