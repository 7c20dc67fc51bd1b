"""Unit tests of the shared plumbing: sizes, durations, config loading, generic options."""

from dataclasses import dataclass

import pytest

from emrlab_common.command import split_generic_options
from emrlab_common.config import (
    MiB,
    format_size,
    load,
    parse_milliseconds,
    parse_octal,
    parse_seconds,
    parse_size,
    setting,
)
from emrlab_common.errors import InvalidArgument, NotFound, error_from_status
from emrlab_common.protogen import stale_files


@pytest.mark.parametrize(
    "text, expected",
    [("1048576", MiB), ("1m", MiB), ("128M", 128 * MiB), ("64k", 65536), ("1g", 1 << 30), ("2MiB", 2 * MiB), ("1.5k", 1536)],
)
def test_parse_size_accepts_hadoop_suffixes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "m", "1x", "-1", "12 mb b"])
def test_parse_size_rejects_garbage_with_a_clear_message(text):
    with pytest.raises(InvalidArgument, match="invalid size"):
        parse_size(text)


def test_durations_use_the_keys_own_unit_unless_told():
    assert parse_seconds("3") == 3.0
    assert parse_milliseconds("300000") == 300.0
    assert parse_milliseconds("2s") == 2.0
    assert parse_seconds("500ms") == 0.5
    assert parse_octal("022") == 0o022


def test_format_size_is_like_du_h():
    assert format_size(512) == "512"
    assert format_size(1536) == "1.5 K"
    assert format_size(128 * MiB) == "128 M"


@dataclass(frozen=True)
class ExampleConfig:
    block_size_bytes: int = setting("dfs.blocksize", 128 * MiB, parse_size, "block size", aliases=("emrlab.blocksize",))
    recheck_s: float = setting("dfs.namenode.heartbeat.recheck-interval", 300.0, parse_milliseconds, "recheck")


def test_load_reads_hadoop_keys_and_aliases_and_keeps_defaults():
    assert load(ExampleConfig, {}) == ExampleConfig()
    assert load(ExampleConfig, {"dfs.blocksize": "1m"}).block_size_bytes == MiB
    assert load(ExampleConfig, {"emrlab.blocksize": "2m"}).block_size_bytes == 2 * MiB
    assert load(ExampleConfig, {"dfs.namenode.heartbeat.recheck-interval": "500"}).recheck_s == 0.5


def test_load_names_the_key_in_errors():
    with pytest.raises(InvalidArgument, match="dfs.blocksize"):
        load(ExampleConfig, {"dfs.blocksize": "big"})


def test_generic_options_come_out_anywhere_before_double_dash():
    rest, context = split_generic_options(
        ["-put", "-D", "dfs.replication=2", "a", "--dir", "/x", "-Ddfs.blocksize=1m", "b", "--", "-D", "k=v"]
    )
    assert rest == ["-put", "a", "b", "--", "-D", "k=v"]
    assert context.dir_flag == "/x"
    assert context.definitions == {"dfs.replication": "2", "dfs.blocksize": "1m"}
    with pytest.raises(InvalidArgument):
        split_generic_options(["-D", "novalue"])


def test_errors_rebuild_their_own_class_from_the_wire():
    error = error_from_status(NotFound.status, "gone", "NotFound")
    assert type(error) is NotFound and error.message == "gone"


def test_committed_grpc_stubs_match_the_protos():
    assert stale_files() == [], "run: python -m emrlab_common.protogen"
