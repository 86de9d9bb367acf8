"""Real local storage servers for tests: moto (S3), Azurite (Blob), a GCS emulator, a faulty proxy.

Each context manager starts its server on 127.0.0.1 with a free port, waits until the port
answers and yields what a test needs to reach it; leaving the block stops the server.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 30.0

AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

# Throttling answers as each service sends them, for ``faulty_proxy``.
S3_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>FAULTYPROXY</RequestId></Error>"
)
AZURE_SERVER_BUSY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b"<Error><Code>ServerBusy</Code><Message>The server is currently unable to receive "
    b"requests. Please retry your request.</Message></Error>"
)
AZURE_SERVER_BUSY_HEADERS = {"Content-Type": "application/xml", "x-ms-error-code": "ServerBusy"}
GCS_RATE_LIMITED = (
    b'{"error": {"code": 429, "message": "The rate of change requests is too high.", '
    b'"errors": [{"reason": "rateLimitExceeded", "domain": "usageLimits", '
    b'"message": "The rate of change requests is too high."}]}}'
)


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


def _require(name: str, hint: str) -> str:
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


@dataclass(frozen=True)
class MotoServer:
    """A moto server: point boto3 at ``endpoint_url`` (any credentials, any region)."""

    endpoint_url: str
    log_path: Path


@contextmanager
def moto_server(initial_no_auth_action_count: int | None = None) -> Iterator[MotoServer]:
    """Run ``moto_server``; with a count, moto checks credentials after that many requests."""
    binary = _require("moto_server", "pip install 'moto[server]'")
    env = {}
    if initial_no_auth_action_count is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(initial_no_auth_action_count)
    with Server("moto", lambda port, _: [binary, "-H", HOST, "-p", str(port)], env=env) as server:
        yield MotoServer(endpoint_url=server.url, log_path=server.log_path)


@dataclass(frozen=True)
class AzuriteServer:
    """An Azurite Blob service with the well-known development account."""

    account_name: str
    account_key: str
    blob_endpoint: str
    log_path: Path

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
            f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};"
        )


@contextmanager
def azurite() -> Iterator[AzuriteServer]:
    """Run ``azurite-blob`` in memory (needs ``npm install`` at the repo root, and node)."""
    binary = _require("azurite-blob", "run `npm install` at the repository root")

    def command(port: int, _: Path) -> list[str]:
        return [
            binary,
            "--blobHost",
            HOST,
            "--blobPort",
            str(port),
            # --location may not be combined with --inMemoryPersistence; cwd is the workdir.
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ]

    with Server("azurite", command) as server:
        yield AzuriteServer(
            account_name=AZURITE_ACCOUNT_NAME,
            account_key=AZURITE_ACCOUNT_KEY,
            blob_endpoint=f"{server.url}/{AZURITE_ACCOUNT_NAME}",
            log_path=server.log_path,
        )


@dataclass(frozen=True)
class GcsEmulator:
    """A GCS emulator: use ``client_options={"api_endpoint": endpoint}`` and anonymous creds."""

    endpoint: str
    log_path: Path


@contextmanager
def gcs_emulator() -> Iterator[GcsEmulator]:
    """Run ``gcp-storage-emulator`` with in-memory storage."""
    binary = _require("gcp-storage-emulator", "pip install gcp-storage-emulator")

    def command(port: int, _: Path) -> list[str]:
        return [binary, "start", "--host", HOST, "--port", str(port), "--in-memory"]

    with Server("gcs", command) as server:
        yield GcsEmulator(endpoint=server.url, log_path=server.log_path)


# Headers that describe one connection, not the message, and are never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class FaultyProxy:
    """Counts requests, answers the first few with a canned error and forwards the rest."""

    def __init__(
        self,
        upstream: str,
        fail_first: int,
        status: int,
        body: bytes,
        headers: Mapping[str, str],
        ignore: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.ignore = ignore or (lambda method, path: False)
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, got {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.upstream_prefix = parts.path.rstrip("/")
        self.status = status
        self.body = body
        self.headers = dict(headers)
        self.url = ""
        self._lock = threading.Lock()
        self._requests = 0
        self._failed = 0
        self._to_fail = fail_first
        self._down_until = 0.0

    @property
    def requests(self) -> int:
        """Requests received so far, failed or forwarded."""
        with self._lock:
            return self._requests

    @property
    def failed(self) -> int:
        """Requests answered with the canned error so far."""
        with self._lock:
            return self._failed

    @property
    def forwarded(self) -> int:
        """Requests passed on to the upstream so far."""
        with self._lock:
            return self._requests - self._failed

    def fail_next(self, count: int) -> None:
        """Answer the next ``count`` requests with the canned error (replaces any left over)."""
        with self._lock:
            self._to_fail = count

    def fail_for(self, seconds: float) -> None:
        """An outage: answer every request with the canned error for ``seconds`` from now."""
        with self._lock:
            self._down_until = time.monotonic() + seconds

    def _admit(self, method: str, path: str) -> bool:
        """Count a request; True when it must be failed. Ignored requests pass uncounted."""
        if self.ignore(method, path):
            return False
        with self._lock:
            self._requests += 1
            if time.monotonic() < self._down_until:
                self._failed += 1
                return True
            if self._to_fail > 0:
                self._to_fail -= 1
                self._failed += 1
                return True
            return False


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultyProxy


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _read_body(self) -> bytes | None:
        """The request body, or None when the request carried no body framing."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        return None if length is None else self.rfile.read(int(length))

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        if proxy._admit(self.command, self.path):
            self._send_fault(proxy)
        else:
            self._forward(proxy, body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _handle

    def _send_fault(self, proxy: FaultyProxy) -> None:
        self.send_response_only(proxy.status)
        for name, value in proxy.headers.items():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(proxy.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(proxy.body)

    def _forward(self, proxy: FaultyProxy, body: bytes | None) -> None:
        conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        try:
            try:
                conn.putrequest(
                    self.command,
                    proxy.upstream_prefix + self.path,
                    skip_host=True,
                    skip_accept_encoding=True,
                )
                if "Host" not in self.headers:
                    conn.putheader("Host", f"{proxy.upstream_host}:{proxy.upstream_port}")
                # Host is forwarded as the client sent it: SigV4 signs it. Expect is not
                # signed and is dropped: the body is already here.
                for name, value in self.headers.items():
                    lower = name.lower()
                    if lower not in _HOP_BY_HOP and lower not in ("content-length", "expect"):
                        conn.putheader(name, value)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                response = conn.getresponse()
            except OSError as exc:
                message = f"faulty_proxy: upstream failed: {exc}".encode()
                self.send_response_only(502)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                self.wfile.write(message)
                return
            self._relay(response)
        except OSError:
            self.close_connection = True
        finally:
            conn.close()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        bodiless = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
        if bodiless:
            self.end_headers()
            response.read()
        elif response.getheader("Content-Length") is not None:
            self.end_headers()
            while chunk := response.read(65536):
                self.wfile.write(chunk)
        else:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while chunk := response.read(65536):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


@contextmanager
def faulty_proxy(
    upstream: str,
    fail_first: int,
    status: int = 503,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    ignore: Callable[[str, str], bool] | None = None,
) -> Iterator[FaultyProxy]:
    """A reverse proxy to ``upstream`` (``http://host:port``) at ``.url``.

    The first ``fail_first`` requests get ``status`` with ``body`` and ``headers``; every later
    one is forwarded verbatim (method, path and query, headers including Host, body) and the
    upstream's answer streamed back. Requests for which ``ignore(method, path)`` is true are
    forwarded without being counted or failed (e.g. an SDK's background metadata fetches).
    """
    proxy = FaultyProxy(upstream, fail_first, status, body, headers or {}, ignore)
    server = _ProxyServer((HOST, 0), _ProxyHandler)
    server.proxy = proxy
    proxy.url = f"http://{HOST}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="faulty-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def gcs_bucket_metadata(method: str, path: str) -> bool:
    """The GCS SDK's background bucket-metadata GET (its observability cache), not an operation."""
    return method == "GET" and re.fullmatch(r"/storage/v1/b/[^/?]+(\?.*)?", path) is not None


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
