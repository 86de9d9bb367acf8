"""The PostgreSQL source when the network or the server goes quiet or away: every wait has an
end, and every failure a cause.

A real TCP relay (tcp_proxy.py) sits between the ADBC client and the test PostgreSQL and
stops forwarding on cue, keeping its sockets open, as a stuck proxy or NAT does; closing it
then breaks the connection mid-read, as a restarted server or a dropped NAT entry does.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest

from prism_dagster.errors import FailureCause, SourceError
from prism_dagster.sources.postgres import PostgresSource
from prism_dagster_tests.support import gateway_db
from prism_dagster_tests.support.rows import hour
from prism_dagster_tests.support.runs import failure_cause, failure_message, materialise
from prism_dagster_tests.support.tcp_proxy import TcpProxy

START = hour("2026-03-31T22")
END = START + timedelta(hours=4)
ROWS = 50_000
STALL_AFTER = 1 << 20  # bytes from the server, well inside the read (see the relay test)
TABLE = "PostgreSQL table public.agentcc_request_log"


@pytest.fixture(scope="module")
def big(postgres) -> dict[str, Any]:
    """A table of 50,000 rows, in scope and not, over four hours."""
    rows = gateway_db.traffic(START, END, rate=2_000, seed=41)
    rows = pl.concat([rows] * (ROWS // rows.height + 1)).head(ROWS)
    db = gateway_db.new_database(postgres.dsn())
    gateway_db.load(postgres.dsn(db=db), rows)
    in_scope = rows.filter((pl.col("organization_id") == gateway_db.ORG) & ~pl.col("deleted"))
    return {"db": db, "in_scope": in_scope.height}


def _through(proxy: TcpProxy, postgres, db: str, **options: Any) -> PostgresSource:
    dsn = postgres.dsn(db=db).replace(f":{postgres.port}/", f":{proxy.port}/")
    return PostgresSource(dsn=dsn, organization_id=gateway_db.ORG, **options)


def _timed_failure(read: Any) -> tuple[SourceError, float]:
    began = time.monotonic()
    with pytest.raises(SourceError) as caught:
        read()
    elapsed = time.monotonic() - began
    print(f"failed after {elapsed:.2f} s")  # shown with pytest -s
    return caught.value, elapsed


def test_the_relay_carries_a_whole_read(big, postgres) -> None:
    with TcpProxy((postgres.host, postgres.port)) as proxy:
        batch = _through(proxy, postgres, big["db"]).read_window(START, END)
    assert batch.rows.height == big["in_scope"] > 30_000
    assert batch.rows.n_chunks() > 5  # streamed batch by batch, not buffered whole
    assert proxy.to_client > 3 * STALL_AFTER  # so a stall after STALL_AFTER bytes is mid-read


def test_a_read_stalled_midway_fails_within_the_idle_timeout(big, postgres) -> None:
    with TcpProxy((postgres.host, postgres.port), stall_after_bytes=STALL_AFTER) as proxy:
        source = _through(proxy, postgres, big["db"], idle_timeout_s=2)
        error, elapsed = _timed_failure(lambda: source.read_window(START, END))
        assert proxy.stalled and proxy.to_client == STALL_AFTER
    assert error.cause is FailureCause.SOURCE_UNREACHABLE
    assert str(error) == (
        f"{TABLE} on 127.0.0.1:{proxy.port}/{big['db']}: source unreachable: no data for 2 s "
        "(stalled connection); check the network path to the database, or raise "
        "source.idle_timeout_s"
    )
    assert elapsed < 15


@pytest.mark.parametrize(
    ("operation", "query_text"),
    [
        ("read_window", b"format_type(a.atttypid"),  # the column-type lookup
        ("fingerprints", b"date_trunc"),
        ("rows_without_event_time", b"IS NULL AND"),
    ],
)
def test_a_query_stalled_after_connecting_fails_within_the_idle_timeout(
    big, postgres, operation, query_text
) -> None:
    with TcpProxy((postgres.host, postgres.port), stall_when_client_sends=query_text) as proxy:
        source = _through(proxy, postgres, big["db"], idle_timeout_s=2)
        method = getattr(source, operation)
        error, elapsed = _timed_failure(
            lambda: method() if operation == "rows_without_event_time" else method(START, END)
        )
        assert proxy.stalled
    assert error.cause is FailureCause.SOURCE_UNREACHABLE
    assert ": source unreachable: no data for 2 s (stalled connection)" in str(error)
    assert elapsed < 15


def test_a_connection_that_never_answers_fails_within_the_connect_timeout(big, postgres) -> None:
    with TcpProxy((postgres.host, postgres.port), stalled=True) as proxy:
        source = _through(proxy, postgres, big["db"], connect_timeout_s=2, idle_timeout_s=60)
        error, elapsed = _timed_failure(lambda: source.read_window(START, END))
    assert error.cause is FailureCause.SOURCE_UNREACHABLE
    assert str(error).splitlines()[0] == (
        f"{TABLE} on 127.0.0.1:{proxy.port}/{big['db']}: source unreachable: not connected "
        "after 2 s; check host, port and the network path to the database, or raise "
        "source.connect_timeout_s"
    )
    assert postgres.password not in str(error)
    assert elapsed < 2 + 5


def test_a_stall_in_the_drivers_own_setup_queries_fails_as_not_connected(big, postgres) -> None:
    # ADBC reads the type catalog while connecting, after libpq's connect_timeout has ended.
    stall = b"pg_catalog.pg_attribute"
    with TcpProxy((postgres.host, postgres.port), stall_when_client_sends=stall) as proxy:
        source = _through(proxy, postgres, big["db"], connect_timeout_s=2, idle_timeout_s=60)
        error, elapsed = _timed_failure(lambda: source.read_window(START, END))
        assert proxy.stalled
    assert error.cause is FailureCause.SOURCE_UNREACHABLE
    assert ": source unreachable: not connected after 2 s;" in str(error)
    assert elapsed < 2 + 2 + 5  # the timeout, the grace for libpq's own, and slack


def test_the_server_cancels_a_query_past_the_statement_timeout(big, postgres) -> None:
    # A lock the query waits behind: the server is live, the statement just never ends.
    with psycopg.connect(postgres.dsn(db=big["db"])) as locker:
        locker.execute("LOCK TABLE agentcc_request_log IN ACCESS EXCLUSIVE MODE")
        source = PostgresSource(
            dsn=postgres.dsn(db=big["db"]),
            organization_id=gateway_db.ORG,
            statement_timeout_s=1,
            idle_timeout_s=30,
        )
        error, elapsed = _timed_failure(lambda: source.read_window(START, END))
    assert error.cause is FailureCause.SOURCE_UNREACHABLE
    assert str(error).splitlines()[0] == (
        f"{TABLE} on 127.0.0.1:{postgres.port}/{big['db']}: source unreachable: the query ran "
        "longer than source.statement_timeout_s (1 s); raise it, or index organization_id "
        "with started_at and with created_at"
    )
    assert elapsed < 10


# --- a connection that breaks, a login refused: the run says which, and what to do ---------

LOST = (
    "source unreachable: the connection to the database broke during the read (the server "
    "restarted or ended it, or a proxy, pooler or NAT dropped it); nothing was archived from "
    "it, and the hour is read again when the run is retried"
)
REFUSED = (
    "source access denied: the server refused the login; check the user name and password in "
    "source.dsn, and that the server's pg_hba.conf admits this host"
)


def _broken_when_stalled(proxy: TcpProxy) -> None:
    """Close every connection of ``proxy`` once it stalls: the read breaks where it stands."""

    def close() -> None:
        while not proxy.stalled:
            time.sleep(0.05)
        proxy.close()

    threading.Thread(target=close, name="break-connection", daemon=True).start()


def test_a_connection_broken_mid_read_is_source_unreachable_and_transient(big, postgres) -> None:
    with TcpProxy((postgres.host, postgres.port), stall_after_bytes=STALL_AFTER) as proxy:
        source = _through(proxy, postgres, big["db"], idle_timeout_s=600)
        _broken_when_stalled(proxy)
        with pytest.raises(SourceError) as caught:
            source.read_window(START, END)
    error = caught.value
    assert proxy.to_client == STALL_AFTER  # it broke well inside the read
    assert error.cause is FailureCause.SOURCE_UNREACHABLE and error.transient
    first, said = str(error).splitlines()[:2]
    assert first == f"{TABLE} on 127.0.0.1:{proxy.port}/{big['db']}: {LOST}"
    assert said.startswith("PostgreSQL said: ") and "closed the connection" in said


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dsn: str) -> tuple[str, str, str]:
    """(cause, category, the message's first line) of archiving hour 22 from ``dsn``."""
    monkeypatch.setenv("TEST_GATEWAY_DSN", dsn)
    config = {
        "source": {
            "kind": "postgres",
            "dsn": {"env": "TEST_GATEWAY_DSN"},
            "organization_id": gateway_db.ORG,
            "idle_timeout_s": 600,
        },
        "integrations": [
            {"name": "prod", "provider": "local", "path": str(tmp_path), "start": "2026-03-31T00"}
        ],
    }
    result = materialise(config, START, check=False)
    assert not result.success
    message = failure_message(result)
    assert postgres_password(dsn) not in message
    return *failure_cause(result), message.splitlines()[0].split("Failure: ", 1)[-1]


def postgres_password(dsn: str) -> str:
    return dsn.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def test_a_run_whose_connection_breaks_mid_read_names_the_cause(
    big, postgres, tmp_path, monkeypatch
) -> None:
    with TcpProxy((postgres.host, postgres.port), stall_after_bytes=STALL_AFTER) as proxy:
        _broken_when_stalled(proxy)
        cause, category, first = _run(
            tmp_path, monkeypatch, _through(proxy, postgres, big["db"]).dsn
        )
    assert (cause, category) == ("source unreachable", "source unreachable")
    assert first == f"{TABLE} on 127.0.0.1:{proxy.port}/{big['db']}: {LOST}"


def test_a_wrong_password_is_a_refused_login_not_an_unreachable_source(
    big, postgres, tmp_path, monkeypatch
) -> None:
    dsn = postgres.dsn(password="wrong-Pa55word", db=big["db"])
    cause, category, first = _run(tmp_path, monkeypatch, dsn)
    assert (cause, category) == ("source access denied", "authentication/permission")
    assert first == f"{TABLE} on 127.0.0.1:{postgres.port}/{big['db']}: {REFUSED}"
