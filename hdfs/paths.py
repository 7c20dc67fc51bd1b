"""HDFS paths: parsing what users type, and refusing what the NameNode must not accept.

Users write `hdfs:///data/in`, `hdfs://namenode/data/in`, `/data/in`, or a
relative `data/in`, which (as in Hadoop) is relative to the home directory
`/user/<name>`. Inside the system every path is absolute and normalized: it
starts with `/`, has no empty, `.` or `..` components, and no `:` in a name.
"""

from __future__ import annotations

import posixpath

from hdfs.errors import InvalidPath

SCHEME = "hdfs://"
COMPONENT_BYTES_MAX = 255
DEPTH_MAX = 1000            # Hadoop's MAX_PATH_DEPTH
LENGTH_MAX = 8000           # Hadoop's MAX_PATH_LENGTH, in characters
SHOWN_CHARACTERS_MAX = 200  # of a path in an error message, which must fit gRPC's metadata limit


def has_glob(path: str) -> bool:
    """Whether a path is a pattern (`/out/part-*`, `?`, `[0-4]`), as Hadoop's globStatus takes them."""
    return any(character in path for character in "*?[")


def home_directory(user: str) -> str:
    return f"/user/{user}"


def resolve(path: str, user: str) -> str:
    """A user's path (URI, absolute or relative) as a normalized absolute path."""
    if not isinstance(path, str) or not path:
        raise InvalidPath("empty path")
    if path.startswith(SCHEME):
        # hdfs:///a/b or hdfs://authority/a/b: the authority names the NameNode; we have one.
        remainder = path[len(SCHEME):]
        slash = remainder.find("/")
        path = remainder[slash:] if slash >= 0 else "/"
    elif "://" in path:
        raise InvalidPath(f"{path}: not an HDFS path (HDFS paths are hdfs:///a/b or /a/b; "
                          f"copy local files in with `emrlab dfs -put`)")
    if not path.startswith("/"):
        path = posixpath.join(home_directory(user), path)
    normalized = posixpath.normpath(path)
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    return validate(normalized)


def shown(text: str) -> str:
    """A path (or name) cut short enough for an error message."""
    if len(text) <= SHOWN_CHARACTERS_MAX:
        return text
    return f"{text[:SHOWN_CHARACTERS_MAX]}... ({len(text)} characters)"


def validate(path: str) -> str:
    """Return `path` if it is a valid normalized absolute path, else raise InvalidPath."""
    if not path.startswith("/"):
        raise InvalidPath(f"{shown(path)}: not an absolute path")
    if path == "/":
        return path
    components = path[1:].split("/")
    if len(path) > LENGTH_MAX or len(components) > DEPTH_MAX:
        raise InvalidPath(f"{shown(path)}: Pathname too long.  Limit {LENGTH_MAX} characters, {DEPTH_MAX} levels.")
    for component in components:
        if component in ("", ".", ".."):
            raise InvalidPath(f"{shown(path)}: invalid path component {shown(component)!r}")
        if ":" in component or "\x00" in component:
            raise InvalidPath(f"{shown(path)!r}: invalid character in {shown(component)!r}")
        if any(ord(character) < 0x20 or 0x7f <= ord(character) < 0xa0 for character in component):
            # A newline or a terminal escape in a name could fake lines of a listing or drive the terminal.
            raise InvalidPath(f"{shown(path)!r}: a control character in {shown(component)!r} is not allowed in a name")
        if len(component.encode()) > COMPONENT_BYTES_MAX:
            raise InvalidPath(f"{shown(path)}: component longer than {COMPONENT_BYTES_MAX} bytes")
    return path


def components(path: str) -> list[str]:
    """The names along a valid absolute path; [] for the root."""
    return [] if path == "/" else path[1:].split("/")


def parent(path: str) -> str:
    return posixpath.dirname(path) or "/"


def name(path: str) -> str:
    return posixpath.basename(path)


def join(directory: str, child: str) -> str:
    return directory.rstrip("/") + "/" + child
