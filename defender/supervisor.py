"""Runs the embedded default's processes together and stops them together (make demo)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Process:
    name: str
    argv: Sequence[str]
    popen: subprocess.Popen | None = None


def run_all(processes: list[Process], *, env: dict[str, str] | None = None) -> int:
    """Start every process; when one exits or on Ctrl-C / SIGTERM, stop all and return."""
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for process in processes:
        # Own process group: Ctrl-C reaches us once, and we stop the children in order.
        process.popen = subprocess.Popen(
            process.argv, env={**os.environ, **(env or {})}, start_new_session=True
        )
    exit_code = 0
    while not stopping:
        for process in processes:
            code = process.popen.poll()
            if code is not None:
                print(f"{process.name} exited with status {code}; stopping the others.", file=sys.stderr)
                exit_code = code or 1
                stopping = True
                break
        time.sleep(0.5)
    stop_all(processes)
    return exit_code


def stop_all(processes: list[Process], timeout: float = 15) -> None:
    for process in reversed(processes):
        if process.popen and process.popen.poll() is None:
            os.killpg(process.popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        if process.popen is None:
            continue
        try:
            process.popen.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait()
