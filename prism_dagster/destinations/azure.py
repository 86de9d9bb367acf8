"""Azure Blob Storage, on azure-storage-blob: connection string, account key, SAS or identity."""

from __future__ import annotations

import base64
import hashlib
from contextlib import AbstractContextManager
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr

from prism_dagster.destinations.azure_codes import CODES, CPK_FIX, SCOPE_FIX
from prism_dagster.destinations.azure_sink import AzureSink
from prism_dagster.destinations.base import Destination, ObjectKind, ObjectSink
from prism_dagster.destinations.parts import streamed
from prism_dagster.errors import DestinationError, FailureCause


class AzureDestination(Destination):
    """An Azure Blob container. Credentials: connection string, account key, SAS or identity."""

    container: str = Field(description="Container name (already created).")
    connection_string: str | None = Field(default=None, description="From the Azure Portal.")
    account_url: str | None = Field(
        default=None, description="https://ACCOUNT.blob.core.windows.net"
    )
    account_key: str | None = Field(default=None, description="With account_url.")
    sas_token: str | None = Field(default=None, description="With account_url.")
    encryption_scope: str | None = Field(default=None, description="Encryption scope name.")
    encryption_key: str | None = Field(
        default=None, description="Customer-provided AES-256 key, base64 (HTTPS only)."
    )
    provider: ClassVar[str] = "azure"
    _client: Any = PrivateAttr(default=None)
    _encryption: dict[str, Any] | None = PrivateAttr(default=None)

    def encryption(self) -> dict[str, Any]:
        """The encryption arguments of every write (and, for a customer key, every read)."""
        if self._encryption is None:  # the key is checked and hashed once, not per object
            self._encryption = self._encryption_args()
        return self._encryption

    def _encryption_args(self) -> dict[str, Any]:
        if self.encryption_scope:
            return {"encryption_scope": self.encryption_scope}
        if not self.encryption_key:
            return {}
        from azure.storage.blob import CustomerProvidedEncryptionKey

        try:
            key = base64.b64decode(self.encryption_key, validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise self.error(
                "using encryption_key",
                FailureCause.KEY_DENIED,
                "not a base64 AES-256 key",
                "Set its variable to 32 random bytes, base64: openssl rand -base64 32.",
            )
        digest = base64.b64encode(hashlib.sha256(key).digest()).decode()
        return {"cpk": CustomerProvidedEncryptionKey(self.encryption_key, digest)}

    def _reading(self) -> dict[str, Any]:
        cpk = self.encryption().get("cpk")
        return {"cpk": cpk} if cpk else {}

    def container_client(self) -> Any:
        """The container client; the SDK's own retries are off (``Destination.run`` retries)."""
        if self._client is not None:
            return self._client
        from azure.storage.blob import BlobServiceClient

        options: dict[str, Any] = {
            "retry_total": 0,
            "connection_timeout": self.settings.retry.request_timeout_s,
            "read_timeout": self.settings.retry.request_timeout_s,
        }

        def create() -> Any:
            if self.connection_string:
                service = BlobServiceClient.from_connection_string(
                    self.connection_string, **options
                )
            elif self.account_url:
                service = BlobServiceClient(
                    self.account_url, credential=self._credential(), **options
                )
            else:
                raise ValueError(
                    "set connection_string, or account_url (with a key, SAS or identity)"
                )
            if self.encryption_key and service.scheme != "https":
                # The SDK refuses too, but only at the first write, as a bare ValueError.
                raise self.error(
                    "using encryption_key",
                    FailureCause.KEY_DENIED,
                    "a customer-provided key is only ever sent over HTTPS",
                    "Use an https:// account URL or BlobEndpoint, or encryption_scope instead.",
                )
            return service.get_container_client(self.container)

        self._client = self.run("connecting to Azure Blob Storage", create)
        return self._client

    def _credential(self) -> Any:
        if self.account_key:
            return {
                "account_name": account_name(self.account_url or ""),
                "account_key": self.account_key,
            }
        if self.sas_token:
            return self.sas_token
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()  # managed identity, workload identity, az login

    def target(self) -> str:
        return f"container {self.container!r}"

    def uri(self, key: str) -> str:
        # Never the client's URL: with a SAS it carries the signature in its query string.
        base = self.account_url or blob_endpoint(self.connection_string or "")
        parts = urlsplit(base)
        return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/{self.container}/{key}"

    def secret_values(self) -> list[str]:
        values = [self.account_key, self.sas_token, self.connection_string, self.encryption_key]
        return [v for v in values if v]

    def translate(self, exc: Exception, action: str) -> DestinationError:
        """An SDK exception as a DestinationError with a cause, a fix and whether to retry."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        if isinstance(exc, HttpResponseError):
            raw = getattr(exc, "error_code", None) or ""
            code = str(getattr(raw, "value", raw))  # the SDK may hand back a StorageErrorCode
            status = int(exc.status_code or 0)
            cause, fix = CODES.get(code, (FailureCause.UNKNOWN, "See the error code."))
            if "EncryptionScope" in code:
                cause, fix = FailureCause.KEY_DENIED, SCOPE_FIX
            elif "CustomerSpecifiedEncryption" in code and cause is FailureCause.UNKNOWN:
                cause, fix = FailureCause.KEY_DENIED, CPK_FIX
            if cause is FailureCause.KEY_DENIED:
                action = f"{action} with {self._key_label()}"
            if cause is FailureCause.UNKNOWN and (
                status == 403 or isinstance(exc, ClientAuthenticationError)
            ):
                cause, fix = CODES["AuthenticationFailed"]
            transient = status >= 500 or status == 429 or cause is FailureCause.THROTTLED
            detail = f"{code or status}: {exc.reason or ''}".strip()
            return self.error(action, cause, detail, fix, transient)
        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            fix = "Check account_url / the connection string's BlobEndpoint and the network."
            return self.error(action, FailureCause.UNREACHABLE, str(exc), fix, transient=True)
        if isinstance(exc, ValueError):  # malformed connection string or URL
            return self.error(action, FailureCause.INVALID_CREDENTIALS, str(exc), "Fix it.")
        return super().translate(exc, action)

    def open_object(self, key: str, kind: ObjectKind) -> AbstractContextManager[ObjectSink]:
        return streamed(AzureSink(self, key, kind))

    def _put_if_absent(self, key: str, data: bytes) -> None:
        from azure.storage.blob import ContentSettings

        settings = ContentSettings(content_type="application/json")
        # overwrite=False: 409 BlobAlreadyExists if the key exists.
        self.container_client().upload_blob(
            key,
            data,
            overwrite=False,
            content_settings=settings,
            validate_content=True,
            **self.encryption(),
        )

    def _already_exists(self, exc: Exception) -> bool:
        from azure.core.exceptions import ResourceExistsError

        return isinstance(exc, ResourceExistsError)

    def get_object(self, key: str) -> bytes:
        from azure.core.exceptions import HttpResponseError

        # decompress=False: the stored gzip bytes, even if stored with Content-Encoding gzip.
        def read() -> bytes:
            client = self.container_client()
            try:
                return client.download_blob(key, decompress=False, **self._reading()).readall()
            except HttpResponseError as exc:
                # Written before encryption_key was set (an older hour, a lease): no key then.
                if getattr(exc, "error_code", None) != "BlobDoesNotUseCustomerSpecifiedEncryption":
                    raise
                return client.download_blob(key, decompress=False).readall()

        return self.run(f"reading {self.uri(key)}", read)

    def list_keys(self, prefix: str) -> list[str]:
        def listing() -> list[str]:
            blobs = self.container_client().list_blobs(name_starts_with=prefix)
            return sorted(blob.name for blob in blobs)

        return self.run(f"listing {self.uri(prefix)}", listing)

    def delete_object(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        def delete() -> None:
            try:
                self.container_client().delete_blob(key)
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", None) != "BlobNotFound":
                    raise

        self.run(f"deleting {self.uri(key)}", delete)

    def _key_label(self) -> str:
        # Names the scope, or the customer key by its field name: never the key itself.
        if self.encryption_scope:
            return f"encryption scope {self.encryption_scope!r}"
        if self.encryption_key:
            return "the customer-provided key (encryption_key)"
        return "the account's encryption"


def account_name(account_url: str) -> str:
    """The storage account of a blob endpoint ("" if it names none).

    https://ACCOUNT.blob.core.windows.net, or http://127.0.0.1:10000/ACCOUNT (emulators).
    """
    parts = urlsplit(account_url)
    host = parts.hostname or ""
    if host == "localhost" or host.replace(".", "").isdigit():
        return parts.path.strip("/").split("/")[0]
    return host.split(".")[0]


def connection_pairs(connection_string: str) -> dict[str, str]:
    """A connection string's ``Name=value`` pairs."""
    return dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)


def blob_endpoint(connection_string: str) -> str:
    """The blob endpoint a connection string names: its BlobEndpoint, else the account's."""
    parts = connection_pairs(connection_string)
    if "BlobEndpoint" in parts:
        return parts["BlobEndpoint"]
    account = parts.get("AccountName", "ACCOUNT")
    return f"https://{account}.blob.{parts.get('EndpointSuffix', 'core.windows.net')}"
