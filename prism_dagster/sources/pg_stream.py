"""PostgreSQL connections: DSN handling that never shows credentials, and sessions run in a
worker thread so that a silent network cannot hang the caller.

libpq's timeouts and TCP keepalives do not notice a peer that is alive but silent (a proxy
or NAT that stops forwarding still ACKs at TCP level): the read would block forever. Here
the session runs in a daemon thread that hands its results over a bounded queue, and the
caller waits for each result with a deadline of its own.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

T = TypeVar("T")
#: Results waiting for the caller; bounded so a slow consumer also slows the reader.
QUEUE_SIZE = 4
#: Past ``connect_timeout_s``: libpq's own timeout normally fires first and says more.
CONNECT_GRACE_S = 2.0
_PUT_POLL_S = 0.5
_CONNECTED, _DONE = object(), object()
#: TCP keepalives: a dead peer or path is dropped after about a minute instead of never.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # ms that sent data may stay unacknowledged
}
# Record batches of about this size: the idle timeout runs between two of them, so a slow
# but live link must deliver one in time (the driver's default is 16 MiB).
BATCH_BYTES = 1 << 20
BATCH_OPTIONS = {"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)}


class Stalled(Exception):
    """No result arrived in time: ``phase`` is "connect" or "read"."""

    def __init__(self, phase: str, seconds: float) -> None:
        super().__init__(f"{phase}: nothing for {seconds:g} s")
        self.phase = phase
        self.seconds = seconds


class Failed(Exception):
    """The session's code or driver raised ``error`` in ``phase``: "connect" (before the
    connection was made) or "read" (after)."""

    def __init__(self, phase: str, error: Exception) -> None:
        super().__init__(f"{phase}: {type(error).__name__}: {error}")
        self.phase = phase
        self.error = error


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class _Session:
    """What the caller and the worker share: the queue, a stop flag and the live cursor."""

    def __init__(self) -> None:
        self.results: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
        self.stop = threading.Event()
        self.lock = threading.Lock()  # a cursor is never cancelled while being closed
        self.cursor: Any = None

    def put(self, item: Any) -> bool:
        """Hand ``item`` over; False once the caller has gone."""
        while not self.stop.is_set():
            try:
                self.results.put(item, timeout=_PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def cancel(self) -> None:
        """Ask the server to stop the query, best effort (in the background: it may block too)."""

        def run() -> None:
            with self.lock:
                if self.cursor is not None:
                    # Best effort: the caller reports the stall whatever happens here.
                    with contextlib.suppress(Exception):
                        self.cursor.adbc_cancel()

        threading.Thread(target=run, name="prism-postgres-cancel", daemon=True).start()


def _run(
    session: _Session, connect: Callable[[], Any], work: Callable[[Any], Iterable[Any]]
) -> None:
    try:
        with connect() as conn:
            cursor = conn.cursor()
            with session.lock:
                session.cursor = cursor
            try:
                if not session.put(_CONNECTED):
                    return
                for item in work(cursor):
                    if not session.put(item):
                        return
                # Before closing: a stall while saying goodbye must not fail a finished read.
                session.put(_DONE)
            finally:
                with session.lock:
                    session.cursor = None
                    cursor.close()
    except BaseException as exc:  # handed to the caller, who re-raises it
        session.put(_Failed(exc))


def stream(
    connect: Callable[[], Any],
    work: Callable[[Any], Iterable[T]],
    connect_timeout_s: float,
    idle_timeout_s: float,
) -> Iterator[T]:
    """The items of ``work(cursor)`` on a connection from ``connect()``, made in a worker thread.

    Raises ``Stalled`` when connecting takes longer than ``connect_timeout_s`` (plus a grace)
    or when no item arrives for ``idle_timeout_s``; an error of the worker as ``Failed``, with
    the phase it happened in.
    """
    session = _Session()
    worker = threading.Thread(
        target=_run, args=(session, connect, work), name="prism-postgres", daemon=True
    )
    worker.start()
    phase, wait = "connect", connect_timeout_s + CONNECT_GRACE_S
    try:
        while True:
            try:
                item = session.results.get(timeout=wait)
            except queue.Empty:
                session.cancel()
                raise Stalled(phase, connect_timeout_s if phase == "connect" else wait) from None
            if item is _CONNECTED:
                phase, wait = "read", idle_timeout_s
            elif item is _DONE:
                return
            elif isinstance(item, _Failed):
                if isinstance(item.error, Exception):
                    raise Failed(phase, item.error) from item.error
                raise item.error
            else:
                yield item
    finally:
        # The worker stops at its next hand-over; a worker stuck on the socket is a daemon
        # thread and ends with the process (or when the connection finally breaks).
        session.stop.set()


def session(
    dsn: str,
    work: Callable[[Any], Iterable[T]],
    connect_timeout_s: int,
    statement_timeout_s: int,
    idle_timeout_s: int,
) -> Iterator[T]:
    """``stream`` on an ADBC connection to ``dsn`` with libpq's connect timeout, TCP
    keepalives and the server's statement timeout set; never logs the DSN."""
    import adbc_driver_postgresql.dbapi as adbc

    full = with_params(dsn, {"connect_timeout": connect_timeout_s, **KEEPALIVES})

    def limited(cursor: Any) -> Iterable[T]:
        # SET rather than options=-c in the DSN: poolers such as PgBouncer refuse that.
        cursor.execute(f"SET statement_timeout = {int(statement_timeout_s) * 1000}")
        yield from work(cursor)

    return stream(lambda: adbc.connect(full), limited, connect_timeout_s, idle_timeout_s)


# --- DSNs: libpq URIs (postgresql://...) and key=value strings -------------------------------

_KEY_VALUE = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
_UNREADABLE_HOST = "a host not readable from source.dsn"


def with_params(dsn: str, params: dict[str, int]) -> str:
    """``dsn`` with integer libpq parameters after its own: libpq keeps a key's last value."""
    dsn = dsn.strip()
    pairs = [f"{key}={int(value)}" for key, value in params.items()]
    if "://" not in dsn:
        return " ".join([dsn, *pairs]).strip()
    separator = "" if dsn.endswith(("?", "&")) else "&" if "?" in dsn else "?"
    return dsn + separator + "&".join(pairs)


def _key_values(dsn: str) -> dict[str, str]:
    return {
        key: re.sub(r"\\(.)", r"\1", value[1:-1]) if value.startswith("'") else value
        for key, value in _KEY_VALUE.findall(dsn)
    }


def _uri(dsn: str) -> tuple[str, str | None, str, dict[str, str]]:
    """(user info, hosts, path, query) of a URI DSN.

    hosts is None when the credentials cannot be told from the host: an unencoded / or ? in
    the password moves its end, and the @, into the path or the query.
    """
    rest = dsn.split("://", 1)[1]
    authority = re.match(r"[^/?#]*", rest).group()  # type: ignore[union-attr]
    path, _, query = rest[len(authority) :].partition("?")
    user_info, at, hosts = authority.rpartition("@")
    if not at and ("@" in path or "@" in query.split("=", 1)[0]):
        return rest.rpartition("@")[0], None, "", {}
    params = (pair.partition("=") for pair in query.split("&") if pair)
    return user_info, hosts, path, {unquote(k): unquote(v) for k, _, v in params}


def where(dsn: str) -> str:
    """host:port/db of a DSN, never its credentials; never raises."""
    if "://" not in dsn:
        pairs = _key_values(dsn)
        host, port = pairs.get("host", "localhost"), pairs.get("port", "5432")
        return f"{host}:{port}/{pairs.get('dbname', '')}"
    _, hosts, path, _ = _uri(dsn)
    if hosts is None:
        return _UNREADABLE_HOST
    hosts = hosts or "localhost"
    if "," not in hosts and not re.search(r":[^\]]*$", hosts):
        hosts += ":5432"
    return f"{hosts}{path}"


def bad_setting(dsn: str) -> str | None:
    """What an operator must fix in the DSN before any connection is tried, if anything."""
    if "://" in dsn:
        _, hosts, _, query = _uri(dsn)
        if hosts is None:
            return (
                "source.dsn: the password cannot be told from the host; percent-encode "
                "/ ? # @ in the user name and password (%2F %3F %23 %40)"
            )
        ports = [h.rpartition("]")[2].partition(":")[2] for h in hosts.split(",")]
        ports += query.get("port", "").split(",")
    else:
        ports = _key_values(dsn).get("port", "").split(",")
    for port in (p.strip() for p in ports):
        if port and not port.isdigit():
            return f"source.dsn: port {port!r} is not a number; fix the port in the DSN"
    return None


def secrets(*dsns: str) -> list[str]:
    """Every credential-looking part of ``dsns``, for ``errors.redact``."""
    found: list[str] = list(dsns)
    for dsn in dsns:
        if "://" in dsn:
            user_info, _, _, query = _uri(dsn)
            password = user_info.partition(":")[2]
            found += [user_info, password, unquote(password), query.get("password", "")]
        else:
            found.append(_key_values(dsn).get("password", ""))
    return [s for s in found if s]
