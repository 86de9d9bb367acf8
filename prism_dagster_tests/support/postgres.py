"""A throwaway PostgreSQL cluster on 127.0.0.1 with a password-protected superuser."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prism_dagster_tests.support.process import HOST, Server


@dataclass(frozen=True)
class PostgresServer:
    """A throwaway PostgreSQL cluster with a password-protected superuser."""

    host: str
    port: int
    user: str
    password: str
    log_path: Path

    def dsn(
        self, user: str | None = None, password: str | None = None, db: str = "postgres"
    ) -> str:
        """A libpq URI for ``user`` (the superuser by default)."""
        user, password = user or self.user, password or self.password
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{db}"


def _postgres_binary(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)),
        None,
    )
    if found is None:
        raise FileNotFoundError(
            f"{name} not found: install PostgreSQL (apt-get install postgresql)"
        )
    return found


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """initdb and start PostgreSQL on 127.0.0.1; as root, it runs as the postgres user.

    PostgreSQL refuses to run as root, and CI runs as root: ``setpriv`` drops to the
    ``postgres`` account (Debian's package creates it) without an extra process in between.
    """
    import pwd

    initdb, postgres = _postgres_binary("initdb"), _postgres_binary("postgres")
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        as_user = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups"]
    password = "pg-" + os.urandom(6).hex()
    server = Server(
        "postgres",
        lambda port, work: [
            *as_user,
            postgres,
            "-D",
            work / "data",
            "-h",
            HOST,
            "-p",
            str(port),
            "-k",
            work,
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
    )
    data = server.workdir / "data"
    data.mkdir()
    (server.workdir / "pwfile").write_text(password + "\n")
    if owner is not None:
        server.workdir.chmod(0o755)
        for path in (server.workdir, data, server.workdir / "pwfile"):
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
            str(server.workdir / "pwfile"),
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        cwd=server.workdir,
    )
    with server:
        found = PostgresServer(HOST, server.port, "admin", password, server.log_path)
        _wait_for_connections(found)
        yield found


def _wait_for_connections(server: PostgresServer, timeout: float = 30.0) -> None:
    # The port opens before the cluster accepts logins; wait for a real connection.
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(server.dsn(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
