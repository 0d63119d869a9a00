"""Running `serve`: in this process for one worker, or under a supervisor of worker processes.

uvicorn's own supervisor hands every worker one shared listening socket, and the first worker
awake accepts nearly all of a burst of new connections, so one worker saturates while the other
idles (BENCHMARKS.md). Here each worker has a listening socket of its own, joined with
SO_REUSEPORT, so the kernel spreads connections over the workers by their address hash. The
supervisor binds them all before any worker starts (see listeners.py) and hands one to each: a
worker that dies is replaced on the same socket, whose queued connections wait for it instead of
being reset. A worker that cannot start (its lifespan failed: a setting is wrong, a database URL
names a driver that is not installed) stops them all, as gunicorn halts on a worker's boot
error: replacing it would only fail again, over and over, while the service looked alive. (An
unreachable database does not stop a start: /ready reports it.)

On SIGTERM or SIGINT each worker drains its socket (listeners.drain), then lets uvicorn finish
its requests (its graceful stop) before it exits.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from videolikes.http.connection_guard import ConnectionGuard, GuardedServerState
from videolikes.http.protocol import ServeConfig
from videolikes.metrics import release_process_metrics
from videolikes.ops.listeners import drain, refuse_new_handshakes

_log = logging.getLogger(__name__)

# Beyond uvicorn's graceful stop, for a worker to exit before it is killed.
_STOP_MARGIN_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Server(uvicorn.Server):
    """uvicorn's server, with a connection guard and a stop that loses no queued connection."""

    def __init__(self, config: ServeConfig) -> None:
        super().__init__(config)
        self.server_state: GuardedServerState = GuardedServerState(
            ConnectionGuard(
                header_timeout=config.header_timeout, max_connections=config.max_connections
            )
        )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await drain(sockets or [])
        await super().shutdown(sockets)
        self.server_state.guard.report()


def serve(config: ServeConfig, sockets: list[socket.socket]) -> int:
    """Serve on `sockets`, one worker each, until SIGTERM or SIGINT; the command's exit status."""
    if len(sockets) > 1:
        return _supervise(config, sockets)
    server = Server(config)
    server.run(sockets=sockets)
    return 0 if server.started else STARTUP_FAILURE


def _supervise(config: ServeConfig, sockets: list[socket.socket]) -> int:
    """Returns 0, or uvicorn's STARTUP_FAILURE when a worker could not start."""
    context = multiprocessing.get_context("spawn")
    stopping = False
    status = 0
    processes: list[BaseProcess] = []

    def stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        # At once, on every socket (also one whose worker is being replaced): no new handshakes;
        # and the workers start draining theirs now rather than at the next look at them.
        for sock in sockets:
            refuse_new_handshakes(sock)
        _signal_all(processes)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        processes.extend(_start(context, config, sock) for sock in sockets)
        while not stopping:
            wait([process.sentinel for process in processes], timeout=0.5)
            for index, process in enumerate(processes):
                if stopping or process.is_alive():
                    continue
                _forget(process)
                if process.exitcode == STARTUP_FAILURE:
                    _log.error("worker %s could not start; stopping every worker", process.pid)
                    stopping, status = True, STARTUP_FAILURE
                    break
                _log.warning(
                    "worker %s exited (%s); starting another", process.pid, process.exitcode
                )
                processes[index] = _start(context, config, sockets[index])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(processes, (config.timeout_graceful_shutdown or 0) + _STOP_MARGIN_SECONDS)
        for sock in sockets:
            sock.close()
    return status


def _start(
    context: multiprocessing.context.SpawnContext, config: ServeConfig, sock: socket.socket
) -> BaseProcess:
    process = context.Process(target=_run_worker, args=(config, sock))
    process.start()
    return process


def _signal_all(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)


def _stop_all(processes: list[BaseProcess], timeout: float) -> None:
    # Again, for a worker that was starting when the signal came (uvicorn takes two alike).
    _signal_all(processes)
    for process in processes:
        process.join(timeout)
        if process.is_alive():
            _log.error("worker %s did not stop in %.0f s; killing it", process.pid, timeout)
            process.kill()
            process.join()
        _forget(process)


def _forget(process: BaseProcess) -> None:
    # A worker that was killed could not take its live gauges out of the shared files itself.
    if process.pid is not None:
        release_process_metrics(process.pid)


def _run_worker(config: ServeConfig, sock: socket.socket) -> None:
    if not _stops_with_supervisor():
        return
    # What uvicorn.Config's constructor did in the supervisor: among others, no access log.
    config.configure_logging()
    Server(config).run(sockets=[sock])


def _stops_with_supervisor() -> bool:
    """Have the kernel send this worker SIGTERM when the supervisor dies (killed, out of memory):
    a worker left behind would keep the port. False if the supervisor is gone already."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    supervisor = multiprocessing.parent_process()
    return supervisor is None or os.getppid() == supervisor.pid
