"""The real server, `videolikes serve`, started and stopped as a process group."""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

BENCH_IP_HASH_SECRET = "videolikes-benchmark-secret"
_READY_TIMEOUT = 30.0
_STOP_TIMEOUT = 25.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def migrate(url: str, log: Path) -> None:
    videolikes = str(Path(sys.executable).with_name("videolikes"))
    with log.open("ab") as output:
        subprocess.run(
            [videolikes, "db", "upgrade"],
            env={**os.environ, "DATABASE_URL": url},
            stdout=output,
            stderr=subprocess.STDOUT,
            check=True,
        )


def seed_demo(env: dict[str, str], log: Path) -> None:
    videolikes = str(Path(sys.executable).with_name("videolikes"))
    with log.open("ab") as output:
        subprocess.run(
            [videolikes, "seed", "--demo"],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            check=True,
        )


def add_env_option(parser: argparse.ArgumentParser, *, example: str) -> None:
    """--env NAME=VALUE, repeatable: the server settings server_env() adds."""
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"extra server setting, e.g. --env {example} (repeatable)",
    )


def server_env(url: str, extra: list[str]) -> dict[str, str]:
    env = {
        "DATABASE_URL": url,
        # wrk connects from 127.0.0.1 and names each request's client in X-Forwarded-For.
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "RATE_LIMIT_ENABLED": "false",
        "RECAPTCHA_SECRET_KEY": "",
        "IP_HASH_SECRET": BENCH_IP_HASH_SECRET,
        "ENVIRONMENT": "development",
        # Request logs stay on, as deployed: one line per request into the run's server.log.
        "LOG_LEVEL": "info",
    }
    for item in extra:
        name, _, value = item.partition("=")
        env[name.upper()] = value
    return env


class Server:
    def __init__(
        self, *, workers: int, env: dict[str, str], log_path: Path, fd_limit: int | None = None
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._workers = workers
        self._env = env
        self._log_path = log_path
        self._fd_limit = fd_limit
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def process_group(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> Server:
        command = [
            str(Path(sys.executable).with_name("videolikes")),
            "serve",
            "--host=127.0.0.1",
            f"--port={self.port}",
            f"--workers={self._workers}",
        ]
        with self._log_path.open("ab") as log:
            # A session of its own, so that Ctrl-C reaches the harness, which then stops
            # the server and all its workers in order.
            self._process = subprocess.Popen(
                command,
                env={**os.environ, **self._env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self._limit_open_files if self._fd_limit else None,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _limit_open_files(self) -> None:
        # As `ulimit -n` would: a server under systemd starts with 1024 by default.
        assert self._fd_limit is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self._fd_limit, self._fd_limit))

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the server exited; see {self._log_path}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    # Every worker answers /health once it is up; give the others a moment.
                    time.sleep(1)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {_READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
