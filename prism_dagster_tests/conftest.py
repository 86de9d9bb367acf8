"""Shared fixtures: gateway rows, spool folders and an independent reader of the archive."""

from __future__ import annotations

import gzip
import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from prism_dagster_tests import servers
from prism_dagster_tests.stores import new_name

warnings.filterwarnings("ignore", module="dagster")

UTC = UTC


def hour(text: str) -> datetime:
    """``2026-03-31T14`` as an aware UTC datetime."""
    return datetime.fromisoformat(text + ":00").replace(tzinfo=UTC)


def gateway_row(request_id: str, started_at: str | None, **fields: Any) -> dict[str, Any]:
    """A gateway log row with sensible values; override any field."""
    row: dict[str, Any] = {
        "request_id": request_id,
        "model": "gpt-4o",
        "provider": "openai",
        "resolved_model": "gpt-4o-2024-08-06",
        "latency_ms": 842,
        "started_at": started_at,
        "created_at": started_at,
        "input_tokens": 1200,
        "output_tokens": 323,
        "total_tokens": 1523,
        "cost": 0.02,
        "status_code": 200,
        "is_stream": False,
        "is_error": False,
        "error_message": None,
        "cache_hit": False,
        "fallback_used": False,
        "guardrail_triggered": False,
        "api_key_id": "key_1",
        "user_id": "user_1",
        "session_id": "sess_1",
        "routing_strategy": "",
        "metadata": {"team": "platform"},
    }
    row.update(fields)
    return row


def write_spool(path: Path, rows: list[dict[str, Any] | str], compress: bool = False) -> Path:
    """Write rows (dicts become JSON, strings are written verbatim) as one spool file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def read_archive_lines(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every batch file under ``root`` decoded with the standard library, by file path."""
    return {
        str(p.relative_to(root)): [
            json.loads(line) for line in gzip.decompress(p.read_bytes()).splitlines()
        ]
        for p in sorted(root.rglob("batch_*.jsonl.gz"))
    }


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, for byte-identity checks."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder


@pytest.fixture
def archive_root(tmp_path: Path) -> Path:
    folder = tmp_path / "archive"
    folder.mkdir()
    return folder


# --- real storage servers, started once per test session ---------------------------------


@pytest.fixture(scope="session")
def moto() -> Iterator[servers.MotoServer]:
    with servers.moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def azurite() -> Iterator[servers.AzuriteServer]:
    with servers.azurite() as server:
        yield server


@pytest.fixture(scope="session")
def gcs() -> Iterator[servers.GcsEmulator]:
    with servers.gcs_emulator() as server:
        yield server


IAM_USERS = ("writer", "nodelete", "denied")


@pytest.fixture(scope="session")
def s3_auth() -> Iterator[dict[str, Any]]:
    """moto with auth on after set-up: a bucket and three IAM users with different rights."""
    with servers.moto_server(initial_no_auth_action_count=1 + 3 * len(IAM_USERS)) as server:
        bucket = new_name()
        arn = f"arn:aws:s3:::{bucket}"
        anon = {
            "endpoint_url": server.endpoint_url,
            "region_name": "us-east-1",
            "aws_access_key_id": "setup",
            "aws_secret_access_key": "setup",
        }
        boto3.client("s3", **anon).create_bucket(Bucket=bucket)
        iam = boto3.client("iam", **anon)
        everything = {"Effect": "Allow", "Action": "s3:*", "Resource": [arn, f"{arn}/*"]}
        policies = {
            "writer": [everything],
            "nodelete": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:GetObject"],
                    "Resource": f"{arn}/*",
                },
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": arn},
            ],
            "denied": [
                everything,
                {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"{arn}/locked/*"},
            ],
        }
        keys = {}
        for user in IAM_USERS:
            iam.create_user(UserName=user)
            document = json.dumps({"Version": "2012-10-17", "Statement": policies[user]})
            iam.put_user_policy(UserName=user, PolicyName="archive", PolicyDocument=document)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        yield {"endpoint": server.endpoint_url, "bucket": bucket, "keys": keys}


@pytest.fixture(scope="session")
def postgres() -> Iterator[servers.PostgresServer]:
    with servers.postgres_server() as server:
        yield server
