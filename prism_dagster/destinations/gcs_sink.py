"""Writing one GCS object: one upload, or a resumable session with the whole object's CRC32C."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import google_crc32c

from prism_dagster.destinations.base import ObjectKind
from prism_dagster.destinations.integrity import b64
from prism_dagster.destinations.parts import PartSink

if TYPE_CHECKING:
    from prism_dagster.destinations.gcs import GcsDestination

_RESUMABLE_QUANTUM = 256 * 1024  # GCS resumable chunks are multiples of 256 KiB


class GcsSink(PartSink):
    """Small objects: one upload request. Large ones: a resumable session, a part per PUT."""

    def __init__(self, dest: GcsDestination, key: str, kind: ObjectKind) -> None:
        part = dest.settings.part_size - dest.settings.part_size % _RESUMABLE_QUANTUM
        super().__init__(part, lambda call: dest.run(f"writing {dest.uri(key)}", call))
        self._dest, self._key = dest, key
        self._content_type, self._encoding = dest.content_headers(kind)
        self._session: str | None = None
        self._sent = 0
        self._crc32c = google_crc32c.Checksum()  # of every byte accepted so far

    def _blob(self) -> Any:
        blob = self._dest.blob(self._key)
        blob.content_encoding = self._encoding
        return blob

    def _put_whole(self, data: bytes) -> None:
        # retry=None: Destination.run retries; the write is idempotent (same key, same bytes).
        # checksum: the CRC32C goes with the request and GCS refuses other bytes.
        self._blob().upload_from_string(
            data, content_type=self._content_type, checksum="crc32c", retry=None
        )

    def _upload_part(self, number: int, data: bytes) -> None:
        if self._session is None:
            self._session = self._blob().create_resumable_upload_session(
                content_type=self._content_type, retry=None
            )
        self._send(data, final=False)

    def _send(self, data: bytes, final: bool) -> None:
        end = self._sent + len(data) - 1
        total = str(self._sent + len(data)) if final else "*"
        span = f"bytes {self._sent}-{end}/{total}" if data else f"bytes */{total}"
        headers = {"Content-Range": span}
        if final:  # the whole object's CRC32C: GCS checks it before the object appears
            headers["x-goog-hash"] = f"crc32c={b64(self._crc32c.digest())}"
        http = self._dest.client()._http  # the client's authorised requests session
        response = http.put(self._session, data=data, headers=headers)
        if response.status_code not in ((200, 201) if final else (308,)):
            from google.api_core import exceptions

            raise exceptions.from_http_response(response)
        self._sent += len(data)
        self._crc32c.update(data)
        if final:
            self._dest.check_received(response.json(), self._crc32c.digest(), self._key)

    def _complete(self) -> None:
        self._send(b"", final=True)

    def _abort(self) -> None:
        if self._session is not None:
            self._dest.client()._http.delete(self._session)
