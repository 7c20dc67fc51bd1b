"""Which tasks `mapreduce.task.profile` profiles (Hadoop's integer ranges), and a bad range refused at
submission; the profiles themselves, from real containers, in test_mapreduce_cluster.py."""

import pytest

from emrlab_common.config import load
from emrlab_common.errors import InvalidArgument
from mapreduce.runners.submission import check_job_properties
from mapreduce.task.profiling import ProfileConfig, parse_ranges


@pytest.mark.parametrize("text, chosen", [
    ("0-2", {0, 1, 2}), ("5", {5}), ("1,3-4,7-", {1, 3, 4, 7, 8, 9}), ("-1", {0, 1}), ("-", set(range(10))),
    ("", set()), (" 2 , 4 ", {2, 4}),
])
def test_hadoops_ranges_choose_task_indexes(text, chosen):
    config = load(ProfileConfig, {"mapreduce.task.profile": "true", "mapreduce.task.profile.reduces": text})
    assert {index for index in range(10) if config.profiles(False, index)} == chosen
    assert {index for index in range(10) if config.profiles(True, index)} == {0, 1, 2}  # the maps' default


def test_nothing_is_profiled_unless_asked():
    assert not load(ProfileConfig, {}).profiles(True, 0)
    assert not load(ProfileConfig, {"mapreduce.task.profile.maps": "0-"}).profiles(True, 0)


@pytest.mark.parametrize("key, value", [("mapreduce.task.profile.maps", "a-b"), ("mapreduce.task.profile.maps", "3-1"),
                                        ("mapreduce.task.profile.reduces", "1-2-3"), ("mapreduce.task.profile", "maybe")])
def test_a_bad_value_is_one_line_naming_its_key_at_submission(key, value):
    with pytest.raises(InvalidArgument) as raised:
        check_job_properties({key: value})
    assert str(raised.value).startswith(f"{key}: ") and "\n" not in str(raised.value)


def test_the_default_ranges_are_hadoops():
    assert load(ProfileConfig, {}).maps == parse_ranges("0-2") == ((0, 2),)
