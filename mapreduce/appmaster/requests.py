"""Which attempt each outstanding container request is for, by YARN allocation request id.

The job state machine chooses the ids (YARN's `allocationRequestId`; 0 is the
AM's own) and YARN names the request it satisfied in every container it
gives. The machine may still hand that container to another waiting attempt
of the same priority (one whose split is on the container's node, as
Hadoop's RMContainerAllocator does); then the request that attempt had, still
pending at YARN, passes to the attempt whose request YARN used. So no
request is lost and none is left over.
"""

from __future__ import annotations


class RequestBook:
    def __init__(self):
        self._attempt_of: dict[int, str] = {}
        self._request_of: dict[str, int] = {}
        self._next_id = 1

    def open(self, attempt_id: str) -> int:
        """A new request for `attempt_id`; returns its allocation request id."""
        assert attempt_id not in self._request_of, f"{attempt_id} already has a request"
        request_id, self._next_id = self._next_id, self._next_id + 1
        self._attempt_of[request_id] = attempt_id
        self._request_of[attempt_id] = request_id
        return request_id

    def satisfied(self, request_id: int) -> str | None:
        """YARN gave a container for `request_id` (gone at YARN now); the attempt it was for, if any."""
        attempt_id = self._attempt_of.pop(request_id, None)
        if attempt_id is not None:
            del self._request_of[attempt_id]
        return attempt_id

    def close(self, attempt_id: str) -> int | None:
        """`attempt_id` needs no container any more; its request id, if it had one (to cancel or pass on)."""
        request_id = self._request_of.pop(attempt_id, None)
        if request_id is not None:
            del self._attempt_of[request_id]
        return request_id

    def hand_over(self, request_id: int, attempt_id: str) -> None:
        """A still-pending request serves `attempt_id` from now on."""
        assert request_id not in self._attempt_of and attempt_id not in self._request_of
        self._attempt_of[request_id] = attempt_id
        self._request_of[attempt_id] = request_id

    def request_of(self, attempt_id: str) -> int | None:
        return self._request_of.get(attempt_id)

    def attempts(self) -> set[str]:
        return set(self._request_of)

    def validate_state(self) -> None:
        assert len(self._attempt_of) == len(self._request_of)
        for request_id, attempt_id in self._attempt_of.items():
            assert self._request_of[attempt_id] == request_id, (request_id, attempt_id)
