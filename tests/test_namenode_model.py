"""The namespace against a model, by hypothesis: any sequence of mkdir, create,
rename, delete and list, with restarts in between (a fresh NameNode loading
the image and replaying the real edit log from disk), agrees with a plain dict.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from emrlab_common.errors import EmrlabError
from hdfs.namenode.editlog import EditLog
from hdfs.namenode.events import Complete, Create, Delete, Mkdirs, Rename, SetSafeMode
from tests.namenode_fixtures import SUPERUSER, FakeClock, add_datanodes, make_namesystem, run

NAMES = st.sampled_from(["a", "b", "c", "data", "x.txt"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(lambda names: "/" + "/".join(names))


class NamespaceMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="namespace-model-"))
        self.clock = FakeClock()
        self.model: dict[str, str] = {"/": "dir"}  # path -> "dir" | "file"
        self.client_number = 0
        self._start()

    def _start(self):
        self.editlog = EditLog(self.directory)
        self.namesystem = make_namesystem(clock=self.clock, journal=self.editlog.append, leave_safe_mode=False)
        self.editlog.load(self.namesystem.load_image, self.namesystem.replay)
        self.namesystem.after_load(self.clock())
        run(self.namesystem, SetSafeMode("leave"))
        add_datanodes(self.namesystem, 1)

    def _sync(self):
        self.editlog.sync(self.editlog.last_written_txid)

    def _parent_is_dir(self, path):
        return self.model.get(posixpath.dirname(path)) == "dir"

    def _apply(self, operation, expect_success, change):
        try:
            operation()
            succeeded = True
        except EmrlabError:
            succeeded = False
        self._sync()
        assert succeeded == expect_success, f"expected success={expect_success}"
        if succeeded:
            change()

    @rule(path=PATHS)
    def mkdir_p(self, path):
        names = path[1:].split("/")
        prefixes = ["/" + "/".join(names[: index + 1]) for index in range(len(names))]
        possible = all(self.model.get(prefix, "dir") == "dir" for prefix in prefixes)

        def change():
            for prefix in prefixes:
                self.model[prefix] = "dir"

        self._apply(lambda: run(self.namesystem, Mkdirs(SUPERUSER, path, 0o755, True)), possible, change)

    @rule(path=PATHS)
    def create(self, path):
        possible = path not in self.model and all(
            self.model.get("/" + "/".join(path[1:].split("/")[: index + 1]), "dir") == "dir"
            for index in range(path.count("/") - 1))
        self.client_number += 1
        client = f"client-{self.client_number}"

        def operation():
            run(self.namesystem, Create(SUPERUSER, path, 0o644, client, False, True, 1, 0))
            assert run(self.namesystem, Complete(path, client, None)).completed

        def change():
            names = path[1:].split("/")
            for index in range(len(names) - 1):
                self.model["/" + "/".join(names[: index + 1])] = "dir"
            self.model[path] = "file"

        self._apply(operation, possible, change)

    @rule(source=PATHS, destination=PATHS)
    def rename(self, source, destination):
        if self.model.get(destination) == "dir":
            final = posixpath.join(destination, posixpath.basename(source))
        else:
            final = destination
        possible = (source in self.model and final not in self.model and self._parent_is_dir(final)
                    and not (final + "/").startswith(source + "/")) or (source in self.model and final == source)

        def change():
            if final == source:
                return
            moved = {path: kind for path, kind in self.model.items() if path == source or path.startswith(source + "/")}
            for path in moved:
                del self.model[path]
            for path, kind in moved.items():
                self.model[final + path[len(source):]] = kind

        self._apply(lambda: run(self.namesystem, Rename(SUPERUSER, source, destination)).final_path, possible, change)

    @rule(path=PATHS, recursive=st.booleans())
    def delete(self, path, recursive):
        has_children = any(other.startswith(path + "/") for other in self.model)
        possible = path in self.model and (recursive or not has_children)

        def change():
            for other in [other for other in self.model if other == path or other.startswith(path + "/")]:
                del self.model[other]

        self._apply(lambda: run(self.namesystem, Delete(SUPERUSER, path, recursive)), possible, change)

    @rule()
    def restart(self):
        """Crash and restart: a new NameNode replays what the old one logged."""
        self._sync()
        self._start()

    @precondition(lambda self: self.editlog.last_written_txid > 0)
    @rule()
    def checkpoint(self):
        self.editlog.checkpoint(self.namesystem.image(), retained=2)

    @rule(path=PATHS)
    def listing_matches(self, path):
        if self.model.get(path) != "dir":
            return
        entries, _ = self.namesystem.listing(SUPERUSER, path, "")
        expected = sorted(other for other in self.model if other != "/" and posixpath.dirname(other) == path)
        assert [entry.path for entry in entries] == expected

    @invariant()
    def every_path_agrees(self):
        actual = {}
        for status in self._walk("/"):
            actual[status.path] = "dir" if status.is_directory else "file"
        assert actual == {path: kind for path, kind in self.model.items() if path != "/"}
        self.namesystem.validate_state()

    def _walk(self, path):
        entries, _ = self.namesystem.listing(SUPERUSER, path, "")
        for entry in entries:
            yield entry
            if entry.is_directory:
                yield from self._walk(entry.path)

    def teardown(self):
        self.editlog.close()
        shutil.rmtree(self.directory, ignore_errors=True)  # tests leave nothing in the temporary directory


NamespaceMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestNamespaceAgainstModel = NamespaceMachine.TestCase
