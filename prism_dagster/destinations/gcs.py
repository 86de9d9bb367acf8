"""Google Cloud Storage: a service account key from an env var, else application default creds."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, suppress
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr

from prism_dagster.destinations.base import Destination, ObjectKind, ObjectSink
from prism_dagster.destinations.gcs_sink import GcsSink
from prism_dagster.destinations.integrity import CHECKSUM_FIX, b64
from prism_dagster.destinations.parts import streamed
from prism_dagster.errors import DestinationError, FailureCause

_PERMISSIONS = (
    "Grant the service account the bindings `prism-dagster permissions NAME` prints "
    "(roles/storage.objectUser on the prefix, storage.objects.list on the bucket)."
)


class GcsDestination(Destination):
    """A GCS bucket. Credentials: service account key JSON, else application defaults."""

    bucket: str = Field(description="Bucket name (already created).")
    service_account_json: str | None = Field(default=None, description="Full key JSON.")
    project: str | None = Field(default=None, description="Project for ADC; optional.")
    endpoint_url: str | None = Field(default=None, description="Emulators or private endpoints.")
    anonymous: bool = Field(default=False, description="No credentials at all: emulators only.")
    kms_key_name: str | None = Field(default=None, description="Cloud KMS key (CMEK).")
    provider: ClassVar[str] = "gcs"
    _client: Any = PrivateAttr(default=None)

    @property
    def timeout(self) -> float:
        """Seconds each request may take to connect, and then to answer (``request_timeout_s``)."""
        return self.settings.retry.request_timeout_s

    def blob(self, key: str) -> Any:
        """The handle of one object, with this integration's KMS key (no request is made)."""
        return self.bucket_client().blob(key, kms_key_name=self.kms_key_name)

    def check_received(self, stored: dict[str, Any], crc32c: bytes, key: str) -> None:
        """Refuse an object whose stored CRC32C is not that of the bytes sent.

        GCS checks the ``x-goog-hash`` sent with the last part itself; this catches stores
        that ignore it (the emulator) and removes what they published.
        """
        if stored.get("crc32c") in (None, b64(crc32c)):
            return
        self.bucket_client().blob(key).delete(retry=None, timeout=self.timeout)
        raise self.error(
            f"writing {self.uri(key)}",
            FailureCause.CHECKSUM_MISMATCH,
            f"stored CRC32C {stored.get('crc32c')} is not {b64(crc32c)}, that of the bytes sent",
            CHECKSUM_FIX,
        )

    def client(self) -> Any:
        """The storage client (service account key, emulator, or application defaults)."""
        if self._client is not None:
            return self._client

        def create() -> Any:
            from google.cloud import storage

            options = {"api_endpoint": self.endpoint_url} if self.endpoint_url else None
            if self.service_account_json:
                try:
                    info = json.loads(self.service_account_json)
                except ValueError:
                    raise ValueError("service_account_json is not valid JSON") from None
                return storage.Client.from_service_account_info(info, client_options=options)
            if self.anonymous:
                from google.auth.credentials import AnonymousCredentials

                project = self.project or "emulator"
                creds = AnonymousCredentials()
                return storage.Client(project=project, credentials=creds, client_options=options)
            if self.endpoint_url:  # a private endpoint, with application default credentials
                return storage.Client(project=self.project, client_options=options)
            from dagster_gcp import GCSResource

            return GCSResource(project=self.project).get_client()

        self._client = self.run("connecting to Google Cloud Storage", create)
        return self._client

    def bucket_client(self) -> Any:
        """The bucket handle (no request is made)."""
        return self.client().bucket(self.bucket)

    def target(self) -> str:
        return f"bucket {self.bucket!r}"

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket}/{key}"

    def secret_values(self) -> list[str]:
        if not self.service_account_json:
            return []
        values = [self.service_account_json]
        with suppress(ValueError, AttributeError):
            values.append(json.loads(self.service_account_json).get("private_key", ""))
        return values

    def translate(self, exc: Exception, action: str) -> DestinationError:
        """An SDK exception as a DestinationError with a cause, a fix and whether to retry."""
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth
        from google.cloud.storage.exceptions import DataCorruption

        if isinstance(exc, DataCorruption) or (
            isinstance(exc, api.BadRequest) and _names_checksum(exc)
        ):
            return self.error(action, FailureCause.CHECKSUM_MISMATCH, _short(exc), CHECKSUM_FIX)
        if self.kms_key_name and isinstance(exc, api.GoogleAPICallError) and _names_kms(exc):
            fix = (
                f"Check KMS key {self.kms_key_name!r}: it must exist, be enabled, be in the "
                "bucket's location, and the project's GCS service agent must be able to use it."
            )
            return self.error(action, FailureCause.KEY_DENIED, _short(exc), fix)
        if isinstance(exc, api.NotFound) and not action.startswith("reading"):
            fix = "Create the bucket or fix 'bucket'."
            return self.error(action, FailureCause.MISSING_BUCKET, _short(exc), fix)
        if isinstance(exc, api.Unauthorized | auth.RefreshError | auth.DefaultCredentialsError):
            fix = (
                "Check service_account_json, or the application default credentials; "
                "for an emulator at endpoint_url, set anonymous: true."
            )
            return self.error(action, FailureCause.INVALID_CREDENTIALS, _short(exc), fix)
        if isinstance(exc, api.Forbidden):
            fix = _PERMISSIONS
            if self.kms_key_name:  # CMEK: GCS's own service agent must be able to use the key
                fix += f" Let the project's GCS service agent use KMS key {self.kms_key_name!r}."
            return self.error(action, FailureCause.ACCESS_DENIED, _short(exc), fix)
        if isinstance(exc, api.TooManyRequests | api.ServiceUnavailable):
            fix = "Lower the request rate, or try again later."
            return self.error(action, FailureCause.THROTTLED, _short(exc), fix, transient=True)
        if isinstance(exc, api.ServerError):
            fix = "The store failed on its side; try again later."
            return self.error(action, FailureCause.SERVER_ERROR, _short(exc), fix, transient=True)
        if isinstance(exc, api.GoogleAPICallError):
            return self.error(action, FailureCause.UNKNOWN, _short(exc), "See the error.")
        if isinstance(exc, auth.TransportError | ConnectionError | TimeoutError) or _is_requests(
            exc
        ):
            fix = "Check endpoint_url and network access to storage.googleapis.com."
            return self.error(action, FailureCause.UNREACHABLE, _short(exc), fix, transient=True)
        if isinstance(exc, ValueError):
            fix = "Set service_account_json to the full key JSON."
            return self.error(action, FailureCause.INVALID_CREDENTIALS, str(exc), fix)
        return super().translate(exc, action)

    def open_object(self, key: str, kind: ObjectKind) -> AbstractContextManager[ObjectSink]:
        return streamed(GcsSink(self, key, kind))

    def _put_if_absent(self, key: str, data: bytes) -> None:
        # Generation 0 means "no live object": GCS refuses with 412 if one exists.
        # (The GCS emulator ignores this precondition; real GCS enforces it.)
        self.blob(key).upload_from_string(
            data,
            content_type="application/json",
            if_generation_match=0,
            checksum="crc32c",
            retry=None,
            timeout=self.timeout,
        )

    def _already_exists(self, exc: Exception) -> bool:
        from google.api_core.exceptions import PreconditionFailed

        return isinstance(exc, PreconditionFailed)

    def get_object(self, key: str) -> bytes:
        # raw_download: the stored gzip bytes, never "decompressive transcoding".
        def read() -> bytes:
            blob = self.bucket_client().blob(key)
            return blob.download_as_bytes(raw_download=True, retry=None, timeout=self.timeout)

        return self.run(f"reading {self.uri(key)}", read)

    def list_keys(self, prefix: str) -> list[str]:
        def listing() -> list[str]:
            blobs = self.client().list_blobs(
                self.bucket, prefix=prefix, retry=None, timeout=self.timeout
            )
            return sorted(blob.name for blob in blobs)

        return self.run(f"listing {self.uri(prefix)}", listing)

    def delete_object(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        def delete() -> None:
            try:
                self.bucket_client().blob(key).delete(retry=None, timeout=self.timeout)
            except NotFound as exc:
                if "bucket" in str(exc).lower() and "object" not in str(exc).lower():
                    raise

        self.run(f"deleting {self.uri(key)}", delete)


def _names_checksum(exc: Exception) -> bool:
    # GCS answers a wrong CRC32C or MD5 with a plain 400 "invalid"; only its text tells it
    # from other bad requests, and that text names the checksum it refused.
    message = str(getattr(exc, "message", "") or exc)
    return "CRC32C" in message or "MD5" in message


def _names_kms(exc: Exception) -> bool:
    # A CMEK failure is a 400/403/404 like others; GCS's text names Cloud KMS when it is one.
    return "kms" in str(getattr(exc, "message", "") or exc).lower()


def _short(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}"[:300]


def _is_requests(exc: Exception) -> bool:
    import requests

    return isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout)
