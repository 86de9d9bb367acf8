"""Pools: what prism.yaml configures, what the assets declare, what `prism-dagster pools` sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prism_dagster.cli.pools import commands
from prism_dagster.config import parse_config
from prism_dagster.definitions import build_definitions
from prism_dagster.errors import ConfigError
from prism_dagster.names import SOURCE_POOL, archive_key


def _raw(tmp_path: Path, **extra: object) -> dict:
    local = {"provider": "local", "start": "2026-03-31T00"}
    return {
        "source": {"kind": "spool", "path": str(tmp_path)},
        "integrations": [
            {"name": "a", "path": str(tmp_path / "a"), **local},
            {"name": "b", "path": str(tmp_path / "b"), **local},
        ],
        **extra,
    }


def test_every_archive_asset_declares_the_source_pool(tmp_path: Path) -> None:
    raw = _raw(tmp_path, pools={"source": "gateway_eu"})
    graph = build_definitions(parse_config(raw)).resolve_asset_graph()
    assert [graph.get(archive_key(n)).pools for n in "ab"] == [{"gateway_eu"}] * 2


def test_limits_default_and_per_destination(tmp_path: Path) -> None:
    config = tmp_path / "prism.yaml"
    config.write_text(json.dumps(_raw(tmp_path, pools={"destinations": {"b": 1}})))
    assert [c[-2:] for c in commands(config)] == [
        [SOURCE_POOL, "2"],
        ["prism_destination_a", "4"],
        ["prism_destination_b", "1"],
    ]


def test_a_limit_for_no_integration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"pools\.destinations names no integration: c"):
        parse_config(_raw(tmp_path, pools={"destinations": {"c": 1}}))
