"""A throwaway PostgreSQL cluster on 127.0.0.1 for the benchmarks, deleted when they finish.

The benchmarks' own launcher (they import nothing from the tests), started as the tests
start theirs: initdb with a password-protected superuser, fsync off, and, as root, the server
run as the ``postgres`` user through ``setpriv`` since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Cluster:
    """A running cluster: ``dsn()`` reaches it as its superuser."""

    port: int
    user: str
    password: str

    def dsn(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{HOST}:{self.port}/{db}"


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)),
        None,
    )
    if found is None:
        raise FileNotFoundError(f"{name} not found: install PostgreSQL (make postgres)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server(startup_timeout: float = 30.0) -> Iterator[Cluster]:
    """initdb and start a cluster; stop it and delete its files on leaving the block."""
    import psycopg

    initdb, postgres = _binary("initdb"), _binary("postgres")
    work = Path(tempfile.mkdtemp(prefix="prism-bench-postgres-"))
    data, pwfile, log = work / "data", work / "pwfile", work / "postgres.log"
    password = "pg-" + os.urandom(6).hex()
    as_user: list[str] = []
    process: subprocess.Popen[bytes] | None = None
    try:
        data.mkdir()
        pwfile.write_text(password + "\n")
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam("postgres")
            as_user = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}"]
            as_user.append("--init-groups")
            work.chmod(0o755)
            for path in (work, data, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            [
                *as_user,
                initdb,
                "-D",
                str(data),
                "-U",
                "admin",
                "--pwfile",
                str(pwfile),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            cwd=work,
        )
        cluster = Cluster(_free_port(), "admin", password)
        with log.open("ab") as out:
            process = subprocess.Popen(
                [
                    *as_user,
                    postgres,
                    "-D",
                    str(data),
                    "-h",
                    HOST,
                    "-p",
                    str(cluster.port),
                    "-k",
                    str(work),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + startup_timeout
        while True:  # the port opens before the cluster accepts logins: wait for a real one
            try:
                psycopg.connect(cluster.dsn(), connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not start; its log:\n{log.read_text(errors='replace')}"
                    ) from None
                time.sleep(0.1)
        yield cluster
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(work, ignore_errors=True)
