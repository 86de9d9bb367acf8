"""Launching a local server as a subprocess: free ports, finding executables, ``Server``.

A ``Server`` starts its process on 127.0.0.1 with a free port, waits until the port answers
and stops it again; the per-server modules (moto, azurite, gcs, postgres) build on it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def find_executable(name: str) -> str | None:
    """``name`` next to this Python, in the repo's ``node_modules/.bin``, or on PATH."""
    for folder in (Path(sys.executable).parent, REPO_ROOT / "node_modules" / ".bin"):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def require_executable(name: str, hint: str) -> str:
    """``name`` as ``find_executable`` finds it; FileNotFoundError naming ``hint`` if absent."""
    found = find_executable(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found ({hint})")
    return found


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


class Server:
    """A subprocess serving on 127.0.0.1:``port``, its output logged to a file in ``workdir``.

    ``command`` gets the port and the work directory and returns the argv to run. Readiness
    is a plain TCP connect (no HTTP request, so moto's auth-free request count is untouched).
    """

    def __init__(
        self,
        name: str,
        command: Callable[[int, Path], Sequence[str]],
        env: Mapping[str, str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
        attempts: int = 3,
    ) -> None:
        self.name = name
        self.command = command
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.attempts = attempts
        self.workdir = Path(tempfile.mkdtemp(prefix=f"prism-{name}-"))
        self.log_path = self.workdir / f"{name}.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def output(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> Server:
        """Start the process and wait until its port answers; retry on a fresh port if it dies."""
        for attempt in range(1, self.attempts + 1):
            self.port = free_port()
            argv = [str(part) for part in self.command(self.port, self.workdir)]
            with self.log_path.open("ab") as log:
                log.write(f"--- attempt {attempt}: {' '.join(argv)}\n".encode())
                log.flush()
                self.process = subprocess.Popen(
                    argv,
                    cwd=self.workdir,
                    env={**os.environ, **self.env},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            deadline = time.monotonic() + self.startup_timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                if _port_answers(self.port):
                    return self
                time.sleep(0.05)
            else:
                self.stop(cleanup=False)
                raise RuntimeError(
                    f"{self.name} did not answer on port {self.port} within "
                    f"{self.startup_timeout:.0f}s; output:\n{self.output()}"
                )
            if attempt == self.attempts:
                raise RuntimeError(
                    f"{self.name} exited with code {self.process.returncode} before answering "
                    f"on port {self.port}; output:\n{self.output()}"
                )
        raise AssertionError("unreachable")

    def stop(self, cleanup: bool = True) -> None:
        """Terminate the process (kill it after 5 s) and remove the work directory."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if cleanup:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Server:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
