"""A TCP relay on 127.0.0.1 that can stop forwarding while keeping every socket open.

It plays the network path that fails silently: a proxy or NAT that stops forwarding still
ACKs at TCP level, so the client's keepalives see a live peer and only its own read
deadline can notice. Threads, not asyncio: each direction of each connection is one
blocking loop, easy to stall in place.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

HOST = "127.0.0.1"
_CHUNK = 64 * 1024


class TcpProxy:
    """Relays 127.0.0.1:``port`` to ``target``.

    ``stall_after_bytes``: stall once that many bytes went from server to client (in all).
    ``stall_when_client_sends``: stall, without forwarding it, when the client sends these bytes.
    ``stalled``: stalled from the start; connections are accepted and never forwarded.
    """

    def __init__(
        self,
        target: tuple[str, int],
        *,
        stall_after_bytes: int | None = None,
        stall_when_client_sends: bytes | None = None,
        stalled: bool = False,
    ) -> None:
        self.target = target
        self.stall_after_bytes = stall_after_bytes
        self.stall_when_client_sends = stall_when_client_sends
        self.to_client = 0  # bytes forwarded from server to client, all connections
        self._stalled = threading.Event()
        if stalled:
            self._stalled.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.2)  # so the accept loop notices close()
        self.port: int = self._listener.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)]
        self._threads[0].start()

    @property
    def stalled(self) -> bool:
        return self._stalled.is_set()

    def stall(self) -> None:
        """Stop forwarding in both directions; every socket stays open."""
        self._stalled.set()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            # shutdown wakes a thread blocked in recv(); close alone may not.
            for step in (lambda s: s.shutdown(socket.SHUT_RDWR), socket.socket.close):
                with contextlib.suppress(OSError):
                    step(sock)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _start(self, *args: object) -> None:
        thread = threading.Thread(target=self._pump, args=args, name="tcp-pump", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._keep(client)
            if self.stalled:
                continue  # accepted, never forwarded: the client waits in its handshake
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self._keep(server)
            self._start(client, server, False)
            self._start(server, client, True)

    def _pump(self, source: socket.socket, sink: socket.socket, to_client: bool) -> None:
        while not self._closed.is_set():
            if self.stalled:
                self._closed.wait()  # hold: read nothing, send nothing, close nothing
                return
            try:
                data = source.recv(_CHUNK)
            except OSError:
                break
            if not data:
                break
            data = self._admit(data, to_client)
            try:
                sink.sendall(data)
            except OSError:
                break
        if not self.stalled:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)  # pass the end of stream on

    def _admit(self, data: bytes, to_client: bool) -> bytes:
        """The part of ``data`` to forward before a stall that ``data`` itself triggers."""
        if self.stalled:
            return b""
        if not to_client:
            pattern = self.stall_when_client_sends
            if pattern is not None and pattern in data:
                self.stall()
                return b""
            return data
        with self._lock:
            limit = self.stall_after_bytes
            if limit is not None and self.to_client + len(data) >= limit:
                data = data[: max(limit - self.to_client, 0)]
                self.stall()
            self.to_client += len(data)
        return data
