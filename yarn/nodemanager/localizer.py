"""Localization: the files a container asked for, placed in its working directory.

`local_resources` maps a name to a URI. `hdfs:///path` (a file or a
directory) is downloaded once per application and node into the
application's `filecache/`, as the user, and linked into each container's
working directory under its name; `file:///path` is linked directly (the
cluster is on this machine). Localized files live as long as the application.

One download of a file at a time: a fetch holds its target's lock, and the
lock goes when no fetch of that target holds or waits for it, so the locks
are at most the fetches running (the executor's localizer pool), however
many applications come and go.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from emrlab_common.clusterdir import ClusterDir
from emrlab_common.errors import EmrlabError, InvalidArgument, NotFound

logger = logging.getLogger(__name__)


class LocalizationFailed(EmrlabError):
    """A resource could not be fetched; the container fails with exit status -1000 (INVALID)."""


class Localizer:
    def __init__(self, cluster_dir: ClusterDir):
        self.cluster_dir = cluster_dir
        self._locks: dict[Path, tuple[threading.Lock, int]] = {}  # target: (its lock, fetches holding or waiting)
        self._locks_lock = threading.Lock()

    def localize(self, resources: dict[str, str], user: str, application_dir: Path, work_dir: Path) -> None:
        for name, uri in sorted(resources.items()):
            if not name or "/" in name or name in (".", ".."):
                raise LocalizationFailed(f"invalid local resource name {name!r}")
            try:
                source = self._fetch(uri, user, application_dir)
            except EmrlabError as error:
                raise LocalizationFailed(f"cannot localize {name} from {uri}: {error.message}") from None
            link = work_dir / name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(source)

    def _fetch(self, uri: str, user: str, application_dir: Path) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme == "file" or (not parsed.scheme and uri.startswith("/") and Path(uri).exists()):
            path = Path(parsed.path if parsed.scheme else uri)
            if not path.exists():
                raise NotFound(f"File {path} does not exist")
            return path
        if parsed.scheme not in ("hdfs", ""):
            raise InvalidArgument(f"unsupported scheme {parsed.scheme!r} (use hdfs:/// or file:///)")
        target = application_dir / "filecache" / hashlib.sha1(uri.encode()).hexdigest()[:16] / Path(parsed.path).name
        with self._fetching(target):
            if not target.exists():
                self._download(parsed.path, user, target)
        return target

    def _download(self, path: str, user: str, target: Path) -> None:
        from hdfs import Client

        partial = target.with_name(target.name + ".partial")
        with Client.for_cluster(self.cluster_dir, user=user) as client:
            status = client.status(path)
            if status.is_directory:
                for directory, _, files in client.walk(path):
                    relative = directory.path[len(status.path):].lstrip("/")
                    (partial / relative).mkdir(parents=True, exist_ok=True)
                    for file in files:
                        client.download(file.path, partial / relative / file.name)
            else:
                partial.parent.mkdir(parents=True, exist_ok=True)
                client.download(path, partial)
        os.replace(partial, target)
        logger.info("localized hdfs://%s to %s", path, target)

    @contextmanager
    def _fetching(self, target: Path) -> Iterator[None]:
        with self._locks_lock:
            lock, fetches = self._locks.get(target, (threading.Lock(), 0))
            self._locks[target] = (lock, fetches + 1)
        try:
            with lock:
                yield
        finally:
            with self._locks_lock:
                lock, fetches = self._locks.pop(target)
                if fetches > 1:
                    self._locks[target] = (lock, fetches - 1)
