"""The spot market, simulated and reproducible: prices, interruptions and capacity, from a seed alone.

EC2 sells spare capacity as spot instances: cheaper, and taken back with a
two-minute notice whenever EC2 needs it. Here every decision the market makes
is a pure function of the seed and of stable facts (the group, the instance's
launch number, the time since the cluster was created), so that two runs with
the same seed interrupt the same instances at the same ages and see the same
prices, however the machine schedules its processes:

- interruptions: a Poisson process per spot instance, so its life until the
  notice is exponentially distributed with the configured rate;
- a replacement is asked for after `replacement_delay_s`; each try finds no
  capacity with `capacity_unavailable_probability`, and waits another delay;
- the spot price of each instance type moves every `price_period_s`, within
  +-20% of the table's price.

Rates are named as the Spot Instance Advisor names its frequency buckets (the
chance an instance is interrupted within a month: `<5%`, `5-10%`, `10-15%`,
`15-20%`, `>20%`), or given as a lab rate: `2/min`, `10/h`, `0`.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

from emrlab_common.config import parse_seconds
from emrlab_common.errors import InvalidArgument

MONTH_S = 30 * 24 * 3600.0
# Each Spot Instance Advisor bucket, by the middle of its range (">20%": 25%).
ADVISOR_BUCKETS = {"<5%": 0.025, "5-10%": 0.075, "10-15%": 0.125, "15-20%": 0.175, ">20%": 0.25}
_LAB_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|min|m|h|hour))?\s*$", re.IGNORECASE)
_PER_S = {None: 1 / 60.0, "s": 1.0, "sec": 1.0, "min": 1 / 60.0, "m": 1 / 60.0, "h": 1 / 3600.0, "hour": 1 / 3600.0}
PRICE_SWING = 0.2
SPOT_TERMINATION = "Server.SpotInstanceTermination"


def parse_rate(text: str) -> float:
    """Interruptions per second per instance, from an Advisor bucket or a lab rate ("2/min"; bare = per minute)."""
    text = str(text).strip()
    if text in ADVISOR_BUCKETS:
        return -math.log(1 - ADVISOR_BUCKETS[text]) / MONTH_S
    match = _LAB_RATE.match(text)
    if not match:
        raise InvalidArgument(f"invalid interruption rate {text!r} (examples: 0, 2/min, 10/h, "
                              f"or a Spot Instance Advisor bucket: {', '.join(ADVISOR_BUCKETS)})")
    number, unit = match.groups()
    return float(number) * _PER_S[unit.lower() if unit else None]


@dataclass(frozen=True)
class SpotSettings:
    seed: int = 0
    interruption_rate_per_s: float = 0.0
    notice_s: float = 120.0
    replacement_delay_s: float = 10.0
    capacity_unavailable_probability: float = 0.0
    price_period_s: float = 300.0


def settings_from_properties(properties: dict[str, str]) -> SpotSettings:
    """`emrlab.spot.*` keys (from -D, the flags of `cluster up`, or a definition's emrlab Configurations)."""
    try:
        seed = int(properties.get("emrlab.spot.seed", "0"))
        probability = float(properties.get("emrlab.spot.capacity-unavailable-probability", "0"))
    except ValueError as error:
        raise InvalidArgument(f"emrlab.spot.*: {error}") from None
    if not 0 <= probability < 1:
        raise InvalidArgument("emrlab.spot.capacity-unavailable-probability must be in [0, 1)")
    return SpotSettings(
        seed=seed,
        interruption_rate_per_s=parse_rate(properties.get("emrlab.spot.interruption-rate", "0")),
        notice_s=parse_seconds(properties.get("emrlab.spot.notice", "120s")),
        replacement_delay_s=parse_seconds(properties.get("emrlab.spot.replacement-delay", "10s")),
        capacity_unavailable_probability=probability,
        price_period_s=max(1.0, parse_seconds(properties.get("emrlab.spot.price-period", "300s"))),
    )


def _rng(settings: SpotSettings, *parts: object) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: the same in every process and every run.
    return random.Random("/".join(map(str, (settings.seed, *parts))))


def interruption_delay_s(settings: SpotSettings, group_id: str, launch_number: int) -> float | None:
    """How long the instance runs before its interruption notice; None if the rate is 0."""
    if settings.interruption_rate_per_s <= 0:
        return None
    return _rng(settings, "interrupt", group_id, launch_number).expovariate(settings.interruption_rate_per_s)


def fulfillment_delay_s(settings: SpotSettings, group_id: str, launch_number: int) -> float:
    """How long a replacement waits in AWAITING_FULFILLMENT: one delay per try until capacity is found."""
    rng = _rng(settings, "capacity", group_id, launch_number)
    tries = 1
    while rng.random() < settings.capacity_unavailable_probability and tries < 100:
        tries += 1
    return tries * settings.replacement_delay_s


def spot_price(settings: SpotSettings, base_usd_per_hour: float, instance_type: str, age_s: float) -> float:
    """The spot price in force `age_s` after the cluster was created."""
    period = int(max(0.0, age_s) // settings.price_period_s)
    swing = _rng(settings, "price", instance_type, period).uniform(-PRICE_SWING, PRICE_SWING)
    return round(base_usd_per_hour * (1 + swing), 4)


def choose(settings: SpotSettings, candidates: list[str], count: int, nonce: int) -> list[str]:
    """`count` of `candidates` (node names), as the market would pick them for `spot interrupt --count`."""
    ordered = sorted(candidates)
    return _rng(settings, "choose", nonce).sample(ordered, min(count, len(ordered)))
