"""Shared fixtures: spool and archive folders, and real storage servers started once per session.

Helpers live in ``prism_dagster_tests.support``; tests import them from there, never from here.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from prism_dagster_tests.support.azurite import AzuriteServer, azurite_server
from prism_dagster_tests.support.gcs import GcsEmulator, gcs_emulator
from prism_dagster_tests.support.moto import MotoServer, moto_server
from prism_dagster_tests.support.postgres import PostgresServer, postgres_server
from prism_dagster_tests.support.stores import new_name

warnings.filterwarnings("ignore", module="dagster")


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
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteServer]:
    with azurite_server() as server:
        yield server


@pytest.fixture(scope="session")
def gcs() -> Iterator[GcsEmulator]:
    with gcs_emulator() as server:
        yield server


IAM_USERS = ("writer", "nodelete", "denied")


@pytest.fixture(scope="session")
def s3_auth() -> Iterator[dict[str, Any]]:
    """moto with auth on after set-up: a bucket and three IAM users with different rights."""
    with moto_server(initial_no_auth_action_count=1 + 3 * len(IAM_USERS)) as server:
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
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server
