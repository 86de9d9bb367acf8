"""`prism-dagster status`, `pause` and `resume`: the status store from a terminal."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from typing import Any

from prism_dagster.archive.archive import Archive
from prism_dagster.config import PrismConfig, find_integration
from prism_dagster.defs.resources import live, status_resource
from prism_dagster.errors import redact
from prism_dagster.lifecycle.status import StatusStore
from prism_dagster.names import hour_text, integration_key

_WRAP = 100


def open_store(config: PrismConfig) -> StatusStore:
    """The configured store, with every integration in it."""
    store = live(status_resource(config)).store()
    store.ensure([integration_key(i) for i in config.integrations])
    return store


def _when(value: datetime | None) -> str | None:
    return hour_text(value) if value else None


def store_label(config: PrismConfig) -> str:
    """Which store the CLI used, password removed: the daemon must be using the same one."""
    return redact(open_store(config).url)


def rows(config: PrismConfig) -> list[dict[str, Any]]:
    """One record per configured integration: what `status` prints."""
    states = {state.name: state for state in open_store(config).all()}
    out = []
    for integration in config.integrations:
        state = states[integration_key(integration)]
        # Not started: a URI needs no secret (an {env: NAME} bucket shows as its name).
        archive = Archive(integration.name, integration.destination(), integration.prefix)
        out.append(
            {
                "name": integration.name,
                "provider": integration.provider,
                "destination": archive.prefix_uri(),
                "status": state.status.value,
                "last_archived_hour": _when(state.last_archived_hour),
                "last_success": _when(state.last_success_at),
                "last_error_at": _when(state.last_error_at),
                "error_cause": state.error_cause,
                "last_error": state.last_error,
                "next_retry_at": _when(state.next_retry_at),
                "pending_hours": state.pending_hours,
            }
        )
    return out


def render(records: list[dict[str, Any]], as_json: bool) -> str:
    """A table for people, or JSON for scripts."""
    if as_json:
        return json.dumps(records, indent=2)
    columns = ("name", "provider", "destination", "status", "last_archived_hour", "last_success")
    table = [[_cell(r[c]) for c in columns] for r in records]
    header = [c.upper() for c in columns]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True)).rstrip()]
    for record, row in zip(records, table, strict=True):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        lines += _error(record)
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """A table cell: ``-`` for what is not known yet."""
    return "-" if value is None or value == "" else str(value)


def _error(record: dict[str, Any]) -> list[str]:
    """The last error on its own lines under its row, whole and wrapped (never cut mid-URL)."""
    if not record["last_error"]:
        return []
    head = f"  last error {record['last_error_at']} ({record['error_cause']}):"
    body = textwrap.wrap(
        " ".join(record["last_error"].split()),
        width=_WRAP,
        initial_indent="    ",
        subsequent_indent="    ",
        break_long_words=False,
        break_on_hyphens=False,
    )
    retry = [f"    next retry {record['next_retry_at']}"] if record["next_retry_at"] else []
    return [head, *body, *retry]


def set_paused(config: PrismConfig, name: str, paused: bool) -> str:
    """Pause or resume one integration; the sentence the CLI prints."""
    integration = find_integration(config, name)
    open_store(config).set_paused(integration_key(integration), paused)
    where = f" (status store {store_label(config)})"
    if paused:
        return f"{name}: Paused. Its schedule skips until `prism-dagster resume {name}`.{where}"
    return f"{name}: resumed. The next tick archives every hour missed while paused.{where}"
