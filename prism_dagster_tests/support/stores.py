"""Each provider seen through its own SDK, the way an analyst's tools would see the archive."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import boto3
from azure.storage.blob import BlobServiceClient
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from prism_dagster_tests.support.azurite import AzuriteServer
from prism_dagster_tests.support.gcs import GcsEmulator
from prism_dagster_tests.support.moto import MotoServer


@dataclass(frozen=True)
class StoredObject:
    """An object as its provider returns it: raw bytes and headers."""

    data: bytes
    content_type: str | None
    content_encoding: str | None


class Store(ABC):
    """One bucket or container on an emulator: config for prism.yaml plus SDK readers."""

    provider: str
    env: dict[str, str]

    @abstractmethod
    def integration(self, **extra: Any) -> dict[str, Any]:
        """The provider's fields of a prism.yaml integration pointing here."""

    @abstractmethod
    def objects(self) -> dict[str, StoredObject]:
        """Every object, read back with the provider's own SDK."""


def new_name() -> str:
    """A bucket/container name valid on every provider."""
    return f"prism-{uuid.uuid4().hex[:12]}"


class S3Store(Store):
    provider = "s3"

    def __init__(self, server: MotoServer, endpoint: str | None = None) -> None:
        self.endpoint = endpoint or server.endpoint_url
        self.name = new_name()
        self.env = {"TEST_AWS_KEY_ID": "testing", "TEST_AWS_SECRET": "testing-secret"}
        self.client = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing-secret",
        )
        self.client.create_bucket(Bucket=self.name)

    def integration(self, **extra: Any) -> dict[str, Any]:
        return {
            "provider": "s3",
            "bucket": self.name,
            "region": "us-east-1",
            "endpoint_url": self.endpoint,
            "access_key_id": {"env": "TEST_AWS_KEY_ID"},
            "secret_access_key": {"env": "TEST_AWS_SECRET"},
            **extra,
        }

    def objects(self) -> dict[str, StoredObject]:
        found = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        for item in (i for page in pages for i in page.get("Contents", [])):
            got = self.client.get_object(Bucket=self.name, Key=item["Key"])
            found[item["Key"]] = StoredObject(
                got["Body"].read(), got.get("ContentType"), got.get("ContentEncoding")
            )
        return found

    def etag(self, key: str) -> str:
        return self.client.head_object(Bucket=self.name, Key=key)["ETag"]


class AzureStore(Store):
    provider = "azure"

    def __init__(self, server: AzuriteServer, endpoint: str | None = None) -> None:
        self.name = new_name()
        blob_endpoint = endpoint or server.blob_endpoint
        connection = server.connection_string.replace(server.blob_endpoint, blob_endpoint)
        self.env = {"TEST_AZURE_CONNECTION": connection}
        self.service = BlobServiceClient.from_connection_string(server.connection_string)
        self.container = self.service.create_container(self.name)

    def integration(self, **extra: Any) -> dict[str, Any]:
        return {
            "provider": "azure",
            "container": self.name,
            "connection_string": {"env": "TEST_AZURE_CONNECTION"},
            **extra,
        }

    def objects(self) -> dict[str, StoredObject]:
        found = {}
        for blob in self.container.list_blobs():
            data = self.container.download_blob(blob.name, decompress=False).readall()
            settings = blob.content_settings
            found[blob.name] = StoredObject(data, settings.content_type, settings.content_encoding)
        return found

    def committed_blocks(self, key: str) -> int:
        committed, _ = self.container.get_blob_client(key).get_block_list("committed")
        return len(committed)


class GcsStore(Store):
    provider = "gcs"

    def __init__(self, server: GcsEmulator, endpoint: str | None = None) -> None:
        self.name = new_name()
        self.endpoint = endpoint or server.endpoint
        self.env = {}
        self.client = storage.Client(
            project="test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": server.endpoint},
        )
        self.bucket = self.client.create_bucket(self.name)

    def integration(self, **extra: Any) -> dict[str, Any]:
        return {
            "provider": "gcs",
            "bucket": self.name,
            "endpoint_url": self.endpoint,
            "anonymous": True,
            **extra,
        }

    def objects(self) -> dict[str, StoredObject]:
        found = {}
        for blob in self.client.list_blobs(self.name):
            # Headers first: a download overwrites them with the emulator's response headers.
            content_type, encoding = blob.content_type, blob.content_encoding
            data = blob.download_as_bytes(raw_download=True)
            found[blob.name] = StoredObject(data, content_type, encoding)
        return found
