"""The fault harness (`python -m tests.faults`) on a short fixed schedule: nothing acknowledged is lost."""

import pytest

from tests import faults

pytestmark = pytest.mark.cluster


def test_a_short_seeded_schedule_of_faults_loses_nothing_acknowledged(tmp_path):
    lines = []
    lost = faults.run(seed=9, rounds=6, directory=tmp_path / "cluster", say=lines.append)
    assert lost == 0, "\n".join(lines)
    assert "faults injected 6" in lines[-1]
