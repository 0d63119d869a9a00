"""A throwaway PostgreSQL cluster of the caller's own, for faults nobody else may see.

initdb and pg_ctl make a cluster in a temporary directory, listening on a free port of
127.0.0.1 only, with trust authentication. It can be stopped, restarted, killed, frozen
(SIGSTOP on every one of its processes) and thawed, and it is removed when the block ends,
however it ends. Run as root, the server's programs run as the `postgres` OS user, since
initdb refuses root.

The standard library only: the tests and the benchmark scripts both use it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BINDIR = "/usr/lib/postgresql/15/bin"
OS_USER = "postgres"
SUPERUSER = "postgres"
# initdb and a start or stop each take a second or two; a loaded machine may take far longer.
_COMMAND_TIMEOUT = 120.0

# Durability is of no use to a cluster that lives for one test or one run, and fsync is slow.
_QUICK_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_wal_size": "64MB",
}


def bindir() -> Path:
    """Where the PostgreSQL server programs are: $PG_BINDIR, else PostgreSQL 15's default."""
    return Path(os.environ.get("PG_BINDIR", DEFAULT_BINDIR))


def unavailable_reason() -> str | None:
    """Why no throwaway cluster can be made here, or None when one can."""
    missing = [name for name in ("initdb", "pg_ctl") if not (bindir() / name).is_file()]
    if missing:
        return f"{', '.join(missing)} not found in {bindir()} (set PG_BINDIR)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to drop to the postgres user"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ClusterError(RuntimeError):
    """A server program failed; the message has what it printed."""


class PostgresCluster:
    """One cluster's data directory and server; see throwaway_cluster() to make one."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self._log = data_dir.with_name("server.log")

    def url(
        self,
        database: str = "postgres",
        *,
        user: str = SUPERUSER,
        scheme: str = "postgresql+asyncpg",
    ) -> str:
        return f"{scheme}://{user}@127.0.0.1:{self.port}/{database}"

    def log_text(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def configure(self, settings: Mapping[str, str]) -> None:
        """Add settings to postgresql.conf; they apply from the next start (or reload)."""
        lines = [f"{name} = '{value}'" for name, value in settings.items()]
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self) -> None:
        self._pg_ctl("start", "-l", str(self._log))

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self._pg_ctl("restart", "-m", mode, "-l", str(self._log))

    def kill(self) -> None:
        """SIGKILL every process of the server, as a crash or the OOM killer would.

        start() then recovers the cluster as after a power cut.
        """
        pids = self.pids()
        self._signal_all(signal.SIGKILL)
        deadline = time.monotonic() + _COMMAND_TIMEOUT
        while any(_alive(pid) for pid in pids):
            if time.monotonic() > deadline:
                raise ClusterError(f"processes {pids} outlived SIGKILL")
            time.sleep(0.05)
        # A killed postmaster cannot remove its lock file; where nobody reaps the dead (PID 1
        # of a container, say), its pid stays taken by a zombie and pg_ctl would refuse to
        # start. Without a live postmaster the file is stale, as after a crash.
        with suppress(FileNotFoundError):
            (self.data_dir / "postmaster.pid").unlink()

    def freeze(self, only: str | None = None) -> None:
        """SIGSTOP every process: connections are accepted by the kernel, then nothing answers.

        `only`: just the processes whose title names it, e.g. "walsender": a primary whose
        standby falls behind, since nothing sends it the WAL.
        """
        self._signal_all(signal.SIGSTOP, only)

    def thaw(self, only: str | None = None) -> None:
        self._signal_all(signal.SIGCONT, only)

    def is_running(self) -> bool:
        return self.postmaster_pid() is not None

    def postmaster_pid(self) -> int | None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, ...)."""
        postmaster = self.postmaster_pid()
        if postmaster is None:
            return []
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None and stat.parent == postmaster:
                    children.append(int(entry.name))
        return [postmaster, *children]

    def promote(self) -> None:
        """Make a standby a primary, as an operator's failover tool would (pg_ctl promote -w)."""
        self._pg_ctl("promote")

    def stop_for_good(self) -> None:
        """Stop the server whatever its state: running, stopped or frozen."""
        if not self.is_running():
            return
        self.thaw()
        try:
            self.stop("immediate")
        except (ClusterError, subprocess.SubprocessError, OSError):
            self.kill()

    def _signal_all(self, signum: signal.Signals, only: str | None = None) -> None:
        for pid in self.pids():
            if only is None or only in _title(pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, signum)

    def _pg_ctl(self, action: str, *options: str) -> None:
        # -w: return once the server accepts connections (or has stopped), -t bounds that wait.
        timeout = str(int(_COMMAND_TIMEOUT))
        self._run("pg_ctl", action, "-w", "-t", timeout, "-D", str(self.data_dir), *options)

    def _run(self, program: str, *arguments: str) -> None:
        _run_as_owner(str(bindir() / program), *arguments)


def _run_as_owner(*command: str) -> None:
    """Run a command as the user the cluster's files and processes belong to."""
    if os.geteuid() == 0:
        command = ("runuser", "-u", OS_USER, "--", *command)
    ran = subprocess.run(
        command,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=_COMMAND_TIMEOUT + 10,
    )
    if ran.returncode != 0:
        raise ClusterError(f"{' '.join(command[-3:])} failed: {ran.stderr.strip()}")


@dataclass(frozen=True)
class _Stat:
    state: str
    parent: int


def _stat(pid: int) -> _Stat | None:
    """A process's state letter and parent, from /proc; None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The fields after the command name, which is in parentheses and may hold anything.
    fields = text.rsplit(")", 1)[1].split()
    return _Stat(state=fields[0], parent=int(fields[1]))


def _title(pid: int) -> str:
    """A server process's title, such as "postgres: walsender postgres 127.0.0.1(5432)"."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (dead, waiting to be reaped)."""
    stat = _stat(pid)
    return stat is not None and stat.state != "Z"


@contextmanager
def _owned_directory() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="videolikes-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, OS_USER)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _initdb(data_dir: Path) -> None:
    # --no-sync: as _QUICK_SETTINGS.
    _run_as_owner(
        str(bindir() / "initdb"),
        "--auth=trust",
        "--no-sync",
        f"--username={SUPERUSER}",
        "-D",
        str(data_dir),
    )


@contextmanager
def cluster_template() -> Iterator[Path]:
    """An initialised data directory for throwaway_cluster to copy, which takes a fraction of
    the seconds initdb takes; removed at the end."""
    with _owned_directory() as root:
        _initdb(root / "data")
        yield root / "data"


@contextmanager
def throwaway_cluster(
    settings: Mapping[str, str] | None = None, *, template: Path | None = None
) -> Iterator[PostgresCluster]:
    """A new, started cluster with `settings` added to postgresql.conf; removed at the end.

    Made by initdb, or copied from `template` (see cluster_template()).
    """
    with _owned_directory() as root:
        port = free_port()
        cluster = PostgresCluster(root / "data", port)
        try:
            if template is None:
                _initdb(cluster.data_dir)
            else:
                _run_as_owner("cp", "-a", str(template), str(cluster.data_dir))
            cluster.configure(
                {
                    **_QUICK_SETTINGS,
                    "listen_addresses": "127.0.0.1",
                    "port": str(port),
                    # TCP only: no socket file in a shared directory such as /var/run/postgresql.
                    "unix_socket_directories": "",
                    **(settings or {}),
                }
            )
            cluster.start()
            yield cluster
        finally:
            cluster.stop_for_good()


@contextmanager
def standby_of(
    primary: PostgresCluster,
    *,
    name: str = "standby",
    settings: Mapping[str, str] | None = None,
) -> Iterator[PostgresCluster]:
    """A streaming replica of `primary`, made by pg_basebackup -R and started; removed at the end.

    It connects as application_name `name`, the name synchronous_standby_names lists.
    """
    with _owned_directory() as root:
        port = free_port()
        standby = PostgresCluster(root / "data", port)
        try:
            _run_as_owner(
                str(bindir() / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                SUPERUSER,
                "-D",
                str(standby.data_dir),
                "-R",
                "--no-sync",
                # At once, not spread over checkpoint_timeout: a loaded primary took minutes.
                "--checkpoint=fast",
                "-X",
                "stream",
            )
            _drop_setting(standby.data_dir / "postgresql.auto.conf", "primary_conninfo")
            standby.configure(
                {
                    "port": str(port),
                    "primary_conninfo": (
                        f"host=127.0.0.1 port={primary.port} user={SUPERUSER}"
                        f" application_name={name}"
                    ),
                    # The standby reports each flush at once, and otherwise each second, so
                    # that the primary's view of it stays fresh. The setting counts whole
                    # seconds: less rounds to 0, which turns the reports off altogether, and
                    # then the primary never sees a synchronous standby confirm a commit.
                    "wal_receiver_status_interval": "1s",
                    **(settings or {}),
                }
            )
            standby.start()
            yield standby
        finally:
            standby.stop_for_good()


def _drop_setting(conf: Path, name: str) -> None:
    """Remove a setting that -R wrote to postgresql.auto.conf, which would override the
    one in postgresql.conf (its connection names no application_name)."""
    lines = conf.read_text().splitlines(keepends=True)
    conf.write_text("".join(line for line in lines if not line.startswith(f"{name} ")))


def server_list_url(
    *clusters: PostgresCluster,
    target_session_attrs: str = "read-write",
    database: str = "postgres",
) -> str:
    """libpq's URL naming several servers, tried in order for one of the wanted role."""
    servers = ",".join(f"127.0.0.1:{cluster.port}" for cluster in clusters)
    return (
        f"postgresql://{SUPERUSER}@{servers}/{database}?target_session_attrs={target_session_attrs}"
    )
