"""Typed, frozen configuration that speaks Hadoop's key names.

Every daemon and client has one frozen dataclass of settings, loaded once at
start from string properties (the cluster's own properties, then `-D key=value`
overrides) and passed down. Each field names the Hadoop key it answers to, so a
student's `-D dfs.blocksize=1m` means here what it means on a real cluster:

    @dataclass(frozen=True)
    class NameNodeConfig:
        block_size_bytes: int = setting("dfs.blocksize", 128 * MiB, parse_size,
                                        "Size of a new file's blocks.")

    config = load(NameNodeConfig, {"dfs.blocksize": "1m"})

Fields keep their unit last in the name (`_bytes`, `_s`); values are converted
from the unit Hadoop uses for the key (milliseconds for `...-ms` keys, seconds
for `dfs.heartbeat.interval`) unless the text carries its own unit ("500ms").
Unknown keys are not an error: jobs carry their own keys, as on Hadoop.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from emrlab_common.errors import InvalidArgument

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

_SIZE_MULTIPLIERS = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": 1 << 40, "p": 1 << 50}
_SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from "1048576", "1m", "128M", "2g", "64KiB" (binary prefixes, as Hadoop)."""
    match = _SIZE_PATTERN.match(str(text))
    if not match:
        raise InvalidArgument(f"invalid size {text!r} (examples: 1048576, 512k, 128m, 1g)")
    number, prefix = match.groups()
    return int(float(number) * _SIZE_MULTIPLIERS[prefix.lower()])


def format_size(size_bytes: float) -> str:
    """Human-readable bytes as `hdfs dfs -du -h` prints them: 1.5 M, 128 M, 12 K, 512."""
    for unit, scale in (("P", 1 << 50), ("T", 1 << 40), ("G", GiB), ("M", MiB), ("K", KiB)):
        if abs(size_bytes) >= scale:
            value = size_bytes / scale
            return f"{value:.1f} {unit}" if value < 10 and value != int(value) else f"{value:.0f} {unit}"
    return str(int(size_bytes))


def duration_parser(default_unit: str) -> Callable[[str], float]:
    """A parser giving seconds; a bare number is in `default_unit` ("ms" or "s")."""

    def parse_duration(text: str) -> float:
        match = _DURATION_PATTERN.match(str(text))
        if not match:
            raise InvalidArgument(f"invalid duration {text!r} (examples: 3, 500ms, 2s, 10m)")
        number, unit = match.groups()
        return float(number) * _DURATION_SECONDS[(unit or default_unit).lower()]

    return parse_duration


parse_seconds = duration_parser("s")
parse_milliseconds = duration_parser("ms")


def parse_bool(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise InvalidArgument(f"invalid boolean {text!r} (use true or false)")


def parse_int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise InvalidArgument(f"invalid integer {text!r}") from None


def parse_float(text: str) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        raise InvalidArgument(f"invalid number {text!r}") from None


def parse_octal(text: str) -> int:
    """Permission bits from "022" or "0755", as `fs.permissions.umask-mode` takes them."""
    try:
        value = int(str(text).strip(), 8)
    except ValueError:
        raise InvalidArgument(f"invalid octal mode {text!r} (example: 022)") from None
    if not 0 <= value <= 0o7777:
        raise InvalidArgument(f"mode {text!r} out of range")
    return value


def parse_text(text: str) -> str:
    return str(text)


def setting(key: str, default: Any, parse: Callable[[str], Any], doc: str, aliases: Iterable[str] = ()) -> Any:
    """A dataclass field that `load` fills from property `key` (or one of its aliases)."""
    return dataclasses.field(
        default=default,
        metadata={"key": key, "parse": parse, "doc": doc, "aliases": tuple(aliases)},
    )


Config = TypeVar("Config")


def load(config_class: type[Config], properties: Mapping[str, str]) -> Config:
    """Build `config_class` from string properties; absent keys keep their defaults."""
    values = {}
    for field in dataclasses.fields(config_class):
        metadata = field.metadata
        for key in (metadata["key"], *metadata["aliases"]):
            if key in properties:
                try:
                    values[field.name] = metadata["parse"](properties[key])
                except InvalidArgument as error:
                    raise InvalidArgument(f"{key}: {error}") from None
                break
    return config_class(**values)


def keys_of(config_class: type) -> list[tuple[str, Any, str]]:
    """(key, default, doc) for every setting, for help texts and the README."""
    return [
        (field.metadata["key"], field.default, field.metadata["doc"])
        for field in dataclasses.fields(config_class)
    ]


def parse_definition(text: str) -> tuple[str, str]:
    """Split one `-D key=value` argument."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise InvalidArgument(f"-D expects key=value, got {text!r}")
    return key.strip(), value.strip()
