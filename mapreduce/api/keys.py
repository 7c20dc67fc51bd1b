"""Keys as bytes that sort the way the keys do: the shuffle compares bytes, never objects.

A map task sorts its output by key, and a reduce task merges sorted runs from
many maps. Comparing Python objects would be slow, and across types it is not
even defined (`1 < "a"` raises). So every key is encoded once, on the map side,
into bytes whose plain byte order is the key order below; sorting, merging and
grouping then only ever compare bytes, and the reduce side decodes each group's
key once.

The total order, across types (a documented choice; any key msgpack carries
fits in it):

    None < False < True < numbers < str < bytes < list (and tuple) < dict

- numbers: int and float together, by numeric value; an int and a float of
  equal value are distinct keys and the float sorts first (1.0 < 1). NaN has
  no place in an order: it is refused.
- str: by Unicode code point (UTF-8 byte order); bytes: by byte value.
- lists: element by element, a prefix first ([1] < [1, 0]). Tuples are lists
  (msgpack carries both as arrays).
- dicts: as the list of their (key, value) pairs sorted by key.

The encoding (the same idea as FoundationDB's tuple layer): a type tag byte,
then the payload. Strings and bytes escape 0x00 as 0x00 0xFF and end with a
0x00, so a shorter string sorts before its extensions; lists and dicts end
with 0x00, lower than any element's tag.
"""

from __future__ import annotations

import math
import struct

from emrlab_common.errors import InvalidArgument

TAG_END = 0x00
TAG_NONE = 0x01
TAG_FALSE = 0x02
TAG_TRUE = 0x03
TAG_NUMBER = 0x04
TAG_STR = 0x05
TAG_BYTES = 0x06
TAG_LIST = 0x07
TAG_DICT = 0x08

INT_MIN = -(1 << 63)
INT_MAX = (1 << 64) - 1  # msgpack carries int64 and uint64
NUMBER_KIND_FLOAT = 0
NUMBER_KIND_INT = 1
_DOUBLE = struct.Struct(">d")
_UINT64 = struct.Struct(">Q")
_SIGN_BIT = 1 << 63
_NUMBER_BYTES = 1 + 8 + 8 + 1


class UnorderableKey(InvalidArgument):
    """A key (or a sorted value) that cannot be encoded or ordered: NaN, a set, an object, ..."""


def encode_key(key) -> bytes:
    """Bytes whose byte order is the key order above."""
    if type(key) is str:  # the common case first, without building a list
        return b"\x05" + key.encode("utf-8", "surrogatepass").replace(b"\x00", b"\x00\xff") + b"\x00"
    parts: list[bytes] = []
    try:
        _encode(key, parts)
    except UnorderableKey as error:
        raise UnorderableKey(f"{error} in key {_shorten(key)}") from None
    return b"".join(parts)


def encode_str_keys(keys: list[str]) -> list[bytes]:
    """`encode_key` of each of a list of str keys, by C loops: the keys joined with NUL are
    encoded once and split again, when no key holds a NUL of its own (else one by one).
    Sorting str keys sorts their encodings the same way: UTF-8 keeps code point order."""
    parts = "\x00".join(keys).encode("utf-8", "surrogatepass").split(b"\x00")
    if len(parts) != len(keys):  # a key with a NUL in it, or no keys (one empty part)
        return [encode_key(key) for key in keys]
    return list(map(b"\x05%b\x00".__mod__, parts))


def decode_key(data: bytes):
    """The key `encode_key` encoded (tuples come back as lists, as through msgpack)."""
    if data[:1] == b"\x05" and data.find(b"\x00") == len(data) - 1:  # a str without NUL: the common case
        return data[1:-1].decode("utf-8", "surrogatepass")
    key, end = _decode(data, 0)
    if end != len(data):
        raise ValueError(f"trailing bytes after an encoded key at {end}")
    return key


def _shorten(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _orderable_double(number: float) -> bytes:
    """IEEE-754 bits flipped so that unsigned byte order is numeric order."""
    (bits,) = _UINT64.unpack(_DOUBLE.pack(number))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits & _SIGN_BIT else bits | _SIGN_BIT
    return _UINT64.pack(bits)


def _double_from_orderable(data: bytes) -> float:
    (bits,) = _UINT64.unpack(data)
    bits = bits ^ _SIGN_BIT if bits & _SIGN_BIT else bits ^ 0xFFFFFFFFFFFFFFFF
    return _DOUBLE.unpack(_UINT64.pack(bits))[0]


def _encode_number(number, parts: list[bytes]) -> None:
    """Tag, the nearest double, the exact int's distance from that double, the kind.

    The double orders numbers of different magnitude; an int that the double
    rounds (beyond 2**53) is told apart by its exact distance from it; the kind
    byte separates 1.0 from 1.
    """
    if type(number) is float:
        if math.isnan(number):
            raise UnorderableKey("NaN has no place in an order")
        parts.append(bytes((TAG_NUMBER,)) + _orderable_double(number) + _UINT64.pack(_SIGN_BIT) + b"\x00")
        return
    if not INT_MIN <= number <= INT_MAX:
        raise UnorderableKey(f"integer {number} is outside msgpack's range [-2**63, 2**64)")
    nearest = float(number)
    distance = number - int(nearest)
    parts.append(bytes((TAG_NUMBER,)) + _orderable_double(nearest) + _UINT64.pack(distance + _SIGN_BIT) + b"\x01")


def _escaped(data: bytes) -> bytes:
    return data.replace(b"\x00", b"\x00\xff") + b"\x00"


def _encode(value, parts: list[bytes]) -> None:
    kind = type(value)
    if value is None:
        parts.append(b"\x01")
    elif kind is bool:
        parts.append(b"\x03" if value else b"\x02")
    elif kind is int or kind is float:
        _encode_number(value, parts)
    elif kind is str:
        try:
            parts.append(b"\x05" + _escaped(value.encode("utf-8")))
        except UnicodeEncodeError:
            raise UnorderableKey("a str with a lone surrogate cannot be encoded as UTF-8") from None
    elif kind is bytes or kind is bytearray or kind is memoryview:
        parts.append(b"\x06" + _escaped(bytes(value)))
    elif kind is list or kind is tuple:
        parts.append(b"\x07")
        for element in value:
            _encode(element, parts)
        parts.append(b"\x00")
    elif kind is dict:
        items = []
        for item_key, item_value in value.items():
            key_parts: list[bytes] = []
            _encode(item_key, key_parts)
            value_parts: list[bytes] = []
            _encode(item_value, value_parts)
            items.append((b"".join(key_parts), b"".join(value_parts)))
        items.sort()
        parts.append(b"\x08")
        for item in items:
            parts.extend(item)
        parts.append(b"\x00")
    elif isinstance(value, bool):
        parts.append(b"\x03" if value else b"\x02")
    elif isinstance(value, (int, float)):
        _encode_number(int(value) if isinstance(value, int) else float(value), parts)
    elif isinstance(value, str):
        _encode(str(value), parts)
    else:
        raise UnorderableKey(f"{type(value).__name__} {_shorten(value)} is not a msgpack type"
                             " (use str, bytes, int, float, bool, None, list or dict)")


def _decode_escaped(data: bytes, start: int) -> tuple[bytes, int]:
    pieces = []
    position = start
    while True:
        zero = data.index(b"\x00", position)
        pieces.append(data[position:zero])
        if zero + 1 < len(data) and data[zero + 1] == 0xFF:
            pieces.append(b"\x00")
            position = zero + 2
        else:
            return b"".join(pieces), zero + 1


def _decode(data: bytes, position: int):
    tag = data[position]
    position += 1
    if tag == TAG_STR:
        raw, position = _decode_escaped(data, position)
        return raw.decode("utf-8", "surrogatepass"), position
    if tag == TAG_NONE:
        return None, position
    if tag == TAG_FALSE:
        return False, position
    if tag == TAG_TRUE:
        return True, position
    if tag == TAG_NUMBER:
        nearest = _double_from_orderable(data[position:position + 8])
        (distance,) = _UINT64.unpack(data[position + 8:position + 16])
        kind = data[position + 16]
        position += _NUMBER_BYTES - 1
        if kind == NUMBER_KIND_FLOAT:
            return nearest, position
        return int(nearest) + distance - _SIGN_BIT, position
    if tag == TAG_BYTES:
        return _decode_escaped(data, position)
    if tag == TAG_LIST:
        elements = []
        while data[position] != TAG_END:
            element, position = _decode(data, position)
            elements.append(element)
        return elements, position + 1
    if tag == TAG_DICT:
        result = {}
        while data[position] != TAG_END:
            item_key, position = _decode(data, position)
            item_value, position = _decode(data, position)
            result[_hashable(item_key)] = item_value
        return result, position + 1
    raise ValueError(f"unknown key tag 0x{tag:02x} at {position - 1}")


def _hashable(value):
    return tuple(_hashable(element) for element in value) if isinstance(value, list) else value
