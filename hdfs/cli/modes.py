"""Permission modes as `chmod` takes them: octal (`755`, `1777`) or symbolic (`u+x,go-w`, `a=rX`)."""

from __future__ import annotations

import re

from emrlab_common.errors import InvalidArgument

_SYMBOLIC = re.compile(r"^([ugoa]*)([+\-=])([rwxXt]*)$")
_WHO_SHIFTS = {"u": (6,), "g": (3,), "o": (0,), "a": (6, 3, 0)}
_STICKY = 0o1000


def parse_mode(text: str, current: int, is_directory: bool) -> int:
    """The new permission bits for `text` applied to `current`."""
    if re.fullmatch(r"[0-7]{1,4}", text):
        return int(text, 8)
    mode = current
    for clause in text.split(","):
        match = _SYMBOLIC.match(clause)
        if not match:
            raise InvalidArgument(f"chmod: invalid mode {text!r} (examples: 755, u+x, go-w, a=rX)")
        who, operator, letters = match.groups()
        shifts = sorted({shift for letter in (who or "a") for shift in _WHO_SHIFTS[letter]})
        bits = 0
        for letter in letters:
            if letter == "t":
                bits |= _STICKY
                continue
            if letter == "X" and not (is_directory or current & 0o111):
                continue
            value = {"r": 4, "w": 2, "x": 1, "X": 1}[letter]
            for shift in shifts:
                bits |= value << shift
        if operator == "+":
            mode |= bits
        elif operator == "-":
            mode &= ~bits
        else:
            cleared = sum(7 << shift for shift in shifts)
            mode = (mode & ~cleared) | bits
    return mode & 0o1777
