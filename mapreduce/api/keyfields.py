"""Hadoop's key field specs: partition and sort Streaming keys by some of their fields.

Hadoop Streaming's secondary-sort recipe, as its documentation writes it:

    -D stream.map.output.field.separator=. -D stream.num.map.output.key.fields=4 \\
    -D mapreduce.map.output.key.field.separator=. \\
    -D mapreduce.partition.keypartitioner.options=-k1,2 \\
    -D mapreduce.job.output.key.comparator.class=org.apache.hadoop.mapreduce.lib.partition.KeyFieldBasedComparator \\
    -D mapreduce.partition.keycomparator.options=-k2,2nr \\
    -partitioner org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner

A spec is `-k pos1[,pos2]` with `pos = f[.c][opts]`: field f (from 1) and
character c (from 1; 0 in pos2 means the field's end), opts `n` (numeric) and
`r` (reverse); `-n` or `-r` alone applies to every -k that has no options
(as in Unix `sort`, which these specs copy). Fields are split at
`mapreduce.map.output.key.field.separator` (TAB by default).

emrlab sorts keys by bytes (`mapreduce.api.keys`), so a comparator becomes a sort
key: one part per spec (a number for `n`, the field's bytes otherwise; for `r`
the number negated or the bytes inverted) and then the whole key, so that keys
the specs call equal still sort the same way in every map.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from emrlab_common.errors import InvalidArgument

KEY_FIELD_PARTITIONERS = {"org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner",
                          "org.apache.hadoop.mapreduce.lib.partition.KeyFieldBasedPartitioner"}
KEY_FIELD_COMPARATORS = {"org.apache.hadoop.mapred.lib.KeyFieldBasedComparator",
                         "org.apache.hadoop.mapreduce.lib.partition.KeyFieldBasedComparator"}
_SPEC = re.compile(r"^(\d+)(?:\.(\d+))?([nr]*)(?:,(\d+)(?:\.(\d+))?([nr]*))?$")
_NUMBER = re.compile(rb"^\s*-?\d*\.?\d+")


@dataclass(frozen=True)
class KeySpec:
    start_field: int
    start_char: int = 1
    end_field: int = 0      # 0: to the key's end
    end_char: int = 0       # 0: to the field's end
    numeric: bool = False
    reverse: bool = False

    def select(self, fields: list[bytes], separator: bytes) -> bytes:
        """The bytes of the key this spec covers."""
        if self.start_field > len(fields):
            return b""
        end_field = min(self.end_field or len(fields), len(fields))
        if end_field < self.start_field:
            return b""
        chosen = separator.join(fields[self.start_field - 1:end_field])
        start = self.start_char - 1
        if self.end_char:
            last_length = len(fields[end_field - 1])
            chosen = chosen[:len(chosen) - last_length + min(self.end_char, last_length)]
        return chosen[start:]


def parse_specs(options: str, key: str) -> list[KeySpec]:
    """The -k specs of `options` (e.g. "-k1,1 -k2,2nr"); `key` names the setting in errors."""
    words = options.split()
    global_numeric = global_reverse = False
    specs = []
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("-k"):
            text = word[2:] or (words[index + 1] if index + 1 < len(words) else "")
            index += 1 if word[2:] else 2
            match = _SPEC.match(text)
            if not match or int(match.group(1)) < 1:
                raise InvalidArgument(f"{key}: invalid key field spec {text!r} (examples: -k1,1  -k2,2nr  -k1.2,1.4)")
            start_field, start_char, start_options, end_field, end_char, end_options = match.groups()
            flags = (start_options or "") + (end_options or "")
            specs.append(KeySpec(int(start_field), int(start_char or 1), int(end_field or 0), int(end_char or 0),
                                 "n" in flags, "r" in flags))
            continue
        if re.fullmatch(r"-[nr]+", word):
            global_numeric |= "n" in word
            global_reverse |= "r" in word
            index += 1
            continue
        raise InvalidArgument(f"{key}: unknown option {word!r} (key field specs are -k POS1[,POS2] with n and r)")
    if not specs:
        specs = [KeySpec(1)]
    return [spec if spec.numeric or spec.reverse else
            KeySpec(spec.start_field, spec.start_char, spec.end_field, spec.end_char, global_numeric, global_reverse)
            for spec in specs]


class KeyFieldComparator:
    """KeyFieldBasedComparator as a sort key for byte keys."""

    def __init__(self, specs: list[KeySpec], separator: bytes):
        self.specs = specs
        self.separator = separator

    def sort_key(self, key: bytes) -> list:
        fields = key.split(self.separator)
        parts: list = []
        for spec in self.specs:
            chosen = spec.select(fields, self.separator)
            if spec.numeric:
                match = _NUMBER.match(chosen)
                number = float(match.group()) if match else 0.0
                parts.append(-number if spec.reverse else number)
            else:
                parts.append(bytes(255 - byte for byte in chosen) + b"\xff" if spec.reverse else chosen)
        parts.append(key)
        return parts


class KeyFieldBasedPartitioner:
    """Hadoop's KeyFieldBasedPartitioner: the hash of the key's chosen fields picks the reducer
    (a key that is a comparator's sort key is partitioned by its original bytes, its last part)."""

    def __init__(self, specs: list[KeySpec], separator: bytes):
        self.specs = specs
        self.separator = separator

    def partition(self, encoded_key: bytes, key, num_partitions: int) -> int:
        if isinstance(key, list):
            key = key[-1]
        if not isinstance(key, bytes):
            return zlib.crc32(encoded_key) % num_partitions
        fields = key.split(self.separator)
        chosen = b"\x00".join(spec.select(fields, self.separator) for spec in self.specs)
        return zlib.crc32(chosen) % num_partitions
