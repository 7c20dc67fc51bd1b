"""Carries out the NodeManager state's commands: the only place that touches container processes and files.

A bounded pool localizes resources (Hadoop's
`yarn.nodemanager.localizer.fetch.thread-count`, 4); everything else is
quick and runs in the thread that produced the command: a launch right after
its container's localization, a signal right after the kill. One reaper
thread watches the launched processes: it sees a process end (and kills
whatever it left in its process group), sends a stopping container SIGKILL
once its `yarn.nodemanager.sleep-delay-before-sigkill.ms` is over, and
reports each exit back as an event. What happened always goes back to the
state through `submit`, never straight to the ResourceManager.
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from yarn.nodemanager.auxservices import AuxiliaryService
from yarn.nodemanager.containers import expand_command, kill_group, write_pid_file
from yarn.nodemanager.linuxexecutor import (
    CONTAINER_UMASK,
    TOKEN_FILE_NAME,
    ContainerUsers,
    give,
    give_tree,
    make_container_dirs,
    write_token_file,
)
from yarn.nodemanager.localizer import LocalizationFailed, Localizer
from yarn.nodemanager.records import (
    CleanUpContainer,
    Command,
    ContainerCleanedUp,
    DeleteApplicationDir,
    Event,
    InitializeAuxApplication,
    KillProcessGroup,
    LaunchFailed,
    LaunchProcess,
    LocalizeResources,
    ProcessExited,
    ProcessLaunched,
    ResourcesFailed,
    ResourcesLocalized,
    StopAuxApplication,
)

logger = logging.getLogger(__name__)

LOCALIZER_THREADS = 4  # Hadoop's yarn.nodemanager.localizer.fetch.thread-count
LOCALIZATIONS_PENDING_MAX = 64  # containers waiting for a localizer thread; more fail at once
REAP_INTERVAL_S = 0.05  # how soon a container's exit is seen
REAPER_JOIN_TIMEOUT_S = 2.0


class ContainerExecutor:
    """`execute(command)` carries one command out; results come back through `submit(event)`."""

    def __init__(self, submit: Callable[[Event], None], localizer: Localizer,
                 environment_for: Callable[[LaunchProcess], dict[str, str]], users: ContainerUsers):
        self.submit = submit
        self.localizer = localizer
        self.users = users  # which account runs each container (the NodeManager's own, or its user's)
        self.environment_for = environment_for
        self.aux_services: dict[str, AuxiliaryService] = {}
        self._localizers = ThreadPoolExecutor(LOCALIZER_THREADS, thread_name_prefix="localizer")
        self._localizations_pending = threading.BoundedSemaphore(LOCALIZATIONS_PENDING_MAX)
        self._lock = threading.Lock()
        self._running: dict[str, subprocess.Popen] = {}  # container id -> its process, until it exits
        self._announced: set[str] = set()  # running containers whose launch the state has heard
        self._sigkill_due: dict[str, tuple[int, float]] = {}  # container id -> (pid, monotonic time)
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="reaper", daemon=True)
        self._reaper.start()

    def execute(self, command: Command) -> None:
        match command:
            case InitializeAuxApplication(name, application_id, user, data):
                self._aux_call(name, "initialize_application", application_id, user, data)
            case StopAuxApplication(name, application_id):
                self._aux_call(name, "stop_application", application_id)
            case LocalizeResources():
                self._localize_later(command)
            case LaunchProcess():
                self._launch(command)
            case KillProcessGroup(container_id, pid, sigkill_delay_s):
                logger.info("%s stopping: SIGTERM to process group %d", container_id, pid)
                kill_group(pid, signal.SIGTERM)
                with self._lock:
                    if container_id in self._running:
                        self._sigkill_due[container_id] = (pid, time.monotonic() + sigkill_delay_s)
            case CleanUpContainer(container_id, pid_file):
                pid_file.unlink(missing_ok=True)
                self.submit(ContainerCleanedUp(container_id))
            case DeleteApplicationDir(application_id, directory):
                shutil.rmtree(directory, ignore_errors=True)
                logger.info("deleted the local dir of %s", application_id)
            case _:
                raise AssertionError(f"unknown command {command!r}")

    def close(self) -> None:
        self._stop.set()
        self._localizers.shutdown(wait=False, cancel_futures=True)
        self._reaper.join(REAPER_JOIN_TIMEOUT_S)

    # ------------------------------------------------------------ localization and launch

    def _localize_later(self, command: LocalizeResources) -> None:
        if not self._localizations_pending.acquire(blocking=False):
            self.submit(ResourcesFailed(command.container_id, f"more than {LOCALIZATIONS_PENDING_MAX} "
                                                                 "containers are waiting to be localized"))
            return
        self._localizers.submit(self._localize, command).add_done_callback(_raise_in_hook)

    def _localize(self, command: LocalizeResources) -> None:
        try:
            paths = command.paths
            try:
                account = self.users.account(command.user)
                make_container_dirs(paths, account)
                self.localizer.localize(command.local_resources, command.user, paths.work_dir.parent, paths.work_dir)
                give_tree(paths.work_dir.parent / "filecache", account)
            except LocalizationFailed as error:
                logger.warning("%s: %s", command.container_id, error.message)
                self.submit(ResourcesFailed(command.container_id, error.message))
                return
            except (OSError, KeyError) as error:
                logger.warning("%s could not be localized: %s", command.container_id, error)
                self.submit(ResourcesFailed(command.container_id, f"cannot launch container: {error}"))
                return
            self.submit(ResourcesLocalized(command.container_id))
        finally:
            self._localizations_pending.release()

    def _launch(self, command: LaunchProcess) -> None:
        """Start `bash -c` in a new session (its own process group), then let the reaper watch it."""
        container_id, paths = command.container.id, command.paths
        shell_command = " && ".join(expand_command(item, paths) for item in command.context.commands) or "true"
        try:
            environment = self.environment_for(command)
            account = self.users.account(command.user)
            if command.context.tokens:
                write_token_file(paths.work_dir / TOKEN_FILE_NAME, command.context.tokens, account)
            paths.log_dir.mkdir(parents=True, exist_ok=True)
            as_account = {} if account is None else {"user": account.uid, "group": account.gid,
                                                     "extra_groups": list(account.groups), "umask": CONTAINER_UMASK}
            with open(paths.log_dir / "stdout", "ab") as stdout, open(paths.log_dir / "stderr", "ab") as stderr:
                give(paths.log_dir / "stdout", account)
                give(paths.log_dir / "stderr", account)
                process = subprocess.Popen(["bash", "-c", shell_command], cwd=paths.work_dir, env=environment,
                                           stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                           start_new_session=True, **as_account)
            write_pid_file(paths.pid_file, process.pid)
        except (OSError, KeyError) as error:  # KeyError: its account went away since the container was accepted
            logger.warning("%s could not start: %s", container_id, error)
            self.submit(LaunchFailed(container_id, str(error)))
            return
        logger.info("%s launched, pid %d: %s", container_id, process.pid, shell_command)
        with self._lock:
            self._running[container_id] = process
        self.submit(ProcessLaunched(container_id, process.pid))
        with self._lock:
            self._announced.add(container_id)  # from now on the reaper may report its exit

    # ------------------------------------------------------------ the reaper

    def _reap(self) -> None:
        while not self._stop.wait(REAP_INTERVAL_S):
            with self._lock:
                running = list(self._running.items())
            for container_id, process in running:
                code = process.poll() if container_id in self._announced else None
                if code is None:
                    continue
                kill_group(process.pid, signal.SIGKILL)  # whatever the command left running in its group
                with self._lock:
                    del self._running[container_id]
                    self._announced.discard(container_id)
                    self._sigkill_due.pop(container_id, None)
                self.submit(ProcessExited(container_id, code))
            now = time.monotonic()
            with self._lock:
                due = [(cid, pid) for cid, (pid, due_s) in self._sigkill_due.items() if due_s <= now]
                for cid, _ in due:
                    del self._sigkill_due[cid]
            for container_id, pid in due:
                logger.info("%s still running after SIGTERM: SIGKILL to process group %d", container_id, pid)
                kill_group(pid, signal.SIGKILL)

    def _aux_call(self, name: str, method_name: str, *arguments) -> None:
        method = getattr(self.aux_services[name], method_name)
        try:
            method(*arguments)
        except Exception:  # another package's plug-in: a broken one must not take the NodeManager down
            logger.exception("aux service %s failed in %s", name, method_name)


def _raise_in_hook(future) -> None:
    """A pool task that died of a bug is as loud as a thread that did (the pool would keep it quiet)."""
    error = future.exception() if not future.cancelled() else None
    if error is not None:
        threading.excepthook(threading.ExceptHookArgs((type(error), error, error.__traceback__, None)))
