"""`serve --workers N`: worker processes that each listen on a socket of their own.

uvicorn's own supervisor hands every worker one shared listening socket, and the first worker
awake accepts nearly all of a burst of new connections: wrk's 64 connections were seen spread
61/3, 62/2 and 50/14 over two workers, one saturated while the other idled, with p99 latencies
of 160-490 ms. Here each worker binds its own socket with SO_REUSEPORT, so the kernel spreads
connections over the workers by their address hash. This supervisor starts the workers, replaces
one that dies, and on SIGTERM or SIGINT lets each finish its requests (uvicorn's graceful stop)
before it returns. A worker that cannot start (its lifespan failed: a setting is wrong, a
database URL names a driver that is not installed) stops them all, as gunicorn halts on a
worker's boot error: replacing it would only fail again, over and over, while the service
looked alive. (An unreachable database does not stop a start: /ready reports it.)
"""

from __future__ import annotations

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

_log = logging.getLogger(__name__)

# Beyond uvicorn's graceful stop, for a worker to exit before it is killed.
_STOP_MARGIN_SECONDS = 10.0


def serve_workers(config: uvicorn.Config, workers: int) -> int:
    """Run `workers` processes of `config` until SIGTERM or SIGINT; then stop them in order.

    Returns the exit status for the command: 0, or uvicorn's STARTUP_FAILURE when a worker
    could not start.
    """
    # Fail here, before any worker starts, when the address is taken or not ours to bind.
    _listening_socket(config.host, config.port).close()
    context = multiprocessing.get_context("spawn")
    stopping = False
    status = 0

    def stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    processes = [_start(context, config) for _ in range(workers)]
    try:
        while not stopping:
            wait([process.sentinel for process in processes], timeout=0.5)
            for index, process in enumerate(processes):
                if stopping or process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    _log.error("worker %s could not start; stopping every worker", process.pid)
                    stopping, status = True, STARTUP_FAILURE
                    break
                _log.warning(
                    "worker %s exited (%s); starting another", process.pid, process.exitcode
                )
                processes[index] = _start(context, config)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(processes, (config.timeout_graceful_shutdown or 0) + _STOP_MARGIN_SECONDS)
    return status


def _start(context: multiprocessing.context.SpawnContext, config: uvicorn.Config) -> BaseProcess:
    process = context.Process(target=_run_worker, args=(config,))
    process.start()
    return process


def _stop_all(processes: list[BaseProcess], timeout: float) -> None:
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        process.join(timeout)
        if process.is_alive():
            _log.error("worker %s did not stop in %.0f s; killing it", process.pid, timeout)
            process.kill()
            process.join()


def _run_worker(config: uvicorn.Config) -> None:
    sock = _listening_socket(config.host, config.port)
    uvicorn.Server(config).run(sockets=[sock])


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock
