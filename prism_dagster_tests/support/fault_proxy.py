"""An HTTP reverse proxy that fails requests on demand, and the errors each store sends.

``faulty_proxy`` answers the first requests (or every request during an outage) with a canned
error and forwards the rest to a real emulator: S3_SLOW_DOWN, AZURE_SERVER_BUSY and
GCS_RATE_LIMITED are the throttling answers as each service sends them.
"""

from __future__ import annotations

import http.client
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prism_dagster_tests.support.process import HOST

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


@dataclass(frozen=True)
class Seen:
    """A request as it reached the proxy: what the SDK really sent."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes  # as sent, before any corruption


class FaultyProxy:
    """Counts requests, answers the first few with a canned error and forwards the rest.

    It also records every request (``seen``) and can flip one byte of the next bodies that
    match (``corrupt_next``): bytes changed on the wire, after the SDK computed checksums.
    """

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
        self._fail_from: Callable[[str, str], bool] | None = None
        self.seen: list[Seen] = []
        self._to_corrupt = 0
        self._corrupt_if: Callable[[str, str, int], bool] = lambda method, path, size: False
        self.corrupted: list[str] = []
        # Requests forwarded whose answer never reaches the client (see ``lose_answer_next``).
        self._to_lose: list[tuple[Callable[[Seen], bool], bool]] = []
        self.lost: list[Seen] = []
        self.released = threading.Event()  # set when the proxy stops: held answers end then

    def corrupt_next(self, count: int, when: Callable[[str, str, int], bool]) -> None:
        """Flip a byte in the bodies of the next ``count`` requests ``when(method, path, size)``."""
        with self._lock:
            self._to_corrupt, self._corrupt_if = count, when

    def lose_answer_next(self, when: Callable[[Seen], bool], hang: bool = False) -> None:
        """Forward the next request ``when(seen)``, then never answer it: the store did the work
        but its answer is lost. The connection is closed at once, or with ``hang`` held open
        without a byte until the proxy stops (a hung request the client must time out)."""
        with self._lock:
            self._to_lose.append((when, hang))

    def _loses(self, seen: Seen) -> bool | None:
        """None: answer ``seen``; else it is lost (True: hung, False: connection closed)."""
        with self._lock:
            for rule in self._to_lose:
                if rule[0](seen):
                    self._to_lose.remove(rule)
                    self.lost.append(seen)
                    return rule[1]
        return None

    def _tamper(self, method: str, path: str, body: bytes | None) -> bytes | None:
        with self._lock:
            if not body or not self._to_corrupt or not self._corrupt_if(method, path, len(body)):
                return body
            self._to_corrupt -= 1
            self.corrupted.append(path)
        middle = len(body) // 2
        return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]

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

    def fail_from(self, when: Callable[[str, str], bool]) -> None:
        """A lasting outage from the first request ``when(method, path)`` on, that one too."""
        with self._lock:
            self._fail_from = when

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
            if self._fail_from is not None and self._fail_from(method, path):
                self._fail_from, self._down_until = None, float("inf")
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
        headers = {name.lower(): value for name, value in self.headers.items()}
        seen = Seen(self.command, self.path, headers, body or b"")
        with proxy._lock:
            proxy.seen.append(seen)
        body = proxy._tamper(self.command, self.path, body)
        if proxy._admit(self.command, self.path):
            self._send_fault(proxy)
        else:
            self._forward(proxy, body, proxy._loses(seen))

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

    def _forward(self, proxy: FaultyProxy, body: bytes | None, lost: bool | None = None) -> None:
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
            if lost is not None:  # the store did the work; its answer never reaches the client
                response.read()
                if lost:
                    proxy.released.wait()
                self.close_connection = True
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
    tls: ssl.SSLContext | None = None,
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
    if tls is not None:  # HTTPS to the client, plain HTTP to the emulator
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    proxy.url = f"{'https' if tls else 'http'}://{HOST}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="faulty-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def gcs_bucket_metadata(method: str, path: str) -> bool:
    """The GCS SDK's background bucket-metadata GET (its observability cache), not an operation."""
    return method == "GET" and re.fullmatch(r"/storage/v1/b/[^/?]+(\?.*)?", path) is not None
