"""Runs the embedded default's processes together and stops them together (make demo)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence


class Supervisor:
    """Starts child processes, forwards their output, and stops all of them when one exits or on
    Ctrl-C / SIGTERM."""

    def __init__(self, env: dict[str, str] | None = None):
        self.env = {**os.environ, **(env or {})}
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stopping = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())

    def start(self, name: str, argv: Sequence[str], *, ready_line: str = "", timeout: float = 300) -> None:
        """Start ``argv``; with ``ready_line``, wait until the child prints it (or fail)."""
        # Own session: Ctrl-C reaches only us, and we stop the children in order.
        popen = subprocess.Popen(
            argv,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.children.append((name, popen))
        ready = threading.Event()

        def forward() -> None:
            for line in popen.stdout:
                sys.stdout.write(f"{name:>8} | {line}")
                if ready_line and ready_line in line:
                    ready.set()

        threading.Thread(target=forward, daemon=True).start()
        if not ready_line:
            return
        deadline = time.monotonic() + timeout
        while not ready.wait(0.5):
            if popen.poll() is not None or self.stopping.is_set() or time.monotonic() > deadline:
                self.stop_all()
                raise RuntimeError(f"{name} did not start (see its output above).")

    def wait(self) -> int:
        """Block until Ctrl-C or until a child exits; then stop everything."""
        exit_code = 0
        while not self.stopping.wait(0.5):
            for name, popen in self.children:
                if popen.poll() is not None:
                    print(
                        f"{name} exited with status {popen.returncode}; stopping the others.", file=sys.stderr
                    )
                    exit_code = popen.returncode or 1
                    self.stopping.set()
                    break
        self.stop_all()
        return exit_code

    def stop_all(self, timeout: float = 15) -> None:
        for _, popen in reversed(self.children):
            if popen.poll() is None:
                os.killpg(popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, popen in self.children:
            try:
                popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()
