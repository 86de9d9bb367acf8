"""Writing one GCS object: one upload, or a resumable session that survives lost answers.

A PUT that got no answer (a dropped connection, a timeout, a 5xx) may or may not have reached
the store. Before sending again, the session is asked how many bytes it holds
(``Content-Range: bytes */*``) and only the rest is sent. A session that is gone (404) after
the last PUT was sent may have completed the object: the object is looked up and kept when
it has our size and CRC32C.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import google_crc32c

from prism_dagster.destinations.base import ObjectKind
from prism_dagster.destinations.integrity import b64
from prism_dagster.destinations.parts import PartSink
from prism_dagster.errors import FailureCause

if TYPE_CHECKING:
    from requests import Response

    from prism_dagster.destinations.gcs import GcsDestination

_RESUMABLE_QUANTUM = 256 * 1024  # GCS resumable chunks are multiples of 256 KiB
_INCOMPLETE = 308  # GCS: "Resume Incomplete", with the bytes held in a Range header


class GcsSink(PartSink):
    """Small objects: one upload request. Large ones: a resumable session, a part per PUT."""

    def __init__(self, dest: GcsDestination, key: str, kind: ObjectKind) -> None:
        part = dest.settings.part_size - dest.settings.part_size % _RESUMABLE_QUANTUM
        super().__init__(part, lambda call: dest.run(f"writing {dest.uri(key)}", call))
        self._dest, self._key = dest, key
        self._content_type, self._encoding = dest.content_headers(kind)
        self._session: str | None = None
        self._held = 0  # bytes the session holds, as far as its answers tell
        self._crc32c = google_crc32c.Checksum()  # of those bytes
        self._end = 0  # bytes handed to the session so far, held or not
        self._last = b""  # a short last part: only the PUT that completes the object may be short
        self._unsure = False  # a PUT went unanswered: ask the session before sending again

    def _blob(self) -> Any:
        blob = self._dest.blob(self._key)
        blob.content_encoding = self._encoding
        return blob

    def _put_whole(self, data: bytes) -> None:
        # retry=None: Destination.run retries; the write is idempotent (same key, same bytes).
        # checksum: the CRC32C goes with the request and GCS refuses other bytes.
        self._blob().upload_from_string(
            data,
            content_type=self._content_type,
            checksum="crc32c",
            retry=None,
            timeout=self._dest.timeout,
        )

    def _upload_part(self, number: int, data: bytes) -> None:
        base = (number - 1) * self._part_size  # every part but the last is whole
        self._end = base + len(data)
        if len(data) < self._part_size:
            self._last = data  # sent by _complete, with the object's size
            return
        if self._session is None:
            self._session = self._blob().create_resumable_upload_session(
                content_type=self._content_type, retry=None, timeout=self._dest.timeout
            )
        self._send(base, data, final=False)

    def _complete(self) -> None:
        self._send(self._end - len(self._last), self._last, final=True)

    def _abort(self) -> None:
        if self._session is not None:
            self._dest.client()._http.delete(self._session, timeout=self._dest.timeout)

    def _send(self, base: int, data: bytes, final: bool) -> None:
        """Have the session hold ``data`` (the object's bytes from ``base``); ``final``: and
        complete the object with it."""
        while True:
            if self._unsure and self._ask(base, data, final):
                return  # the object is complete: the lost answer was to the final PUT
            rest = data[self._held - base :]
            if not rest and not final:
                return  # the session holds this part already
            end = self._held + len(rest)
            headers = {
                "Content-Range": f"bytes {self._held}-{end - 1}/{end if final else '*'}"
                if rest
                else f"bytes */{end}"
            }
            if final:  # the whole object's CRC32C: GCS checks it before the object appears
                headers["x-goog-hash"] = f"crc32c={b64(self._whole(base, data))}"
            response = self._put(rest, headers)
            if final and response.status_code in (200, 201):
                self._dest.check_received(response.json(), self._whole(base, data), self._key)
                return
            before = self._held
            self._answered(response, base, data)
            if self._held == before:  # kept nothing: retried, after a fresh look
                from google.api_core import exceptions

                self._unsure = True
                raise exceptions.InternalServerError(
                    f"the upload session kept none of the {len(rest)} bytes sent"
                )

    def _ask(self, base: int, data: bytes, final: bool) -> bool:
        """Learn how much of ``data`` the session holds; True if the object is complete."""
        response = self._put(b"", {"Content-Range": "bytes */*"})
        if response.status_code in (200, 201):
            self._dest.check_received(response.json(), self._whole(base, data), self._key)
            return True
        if response.status_code == 404 and final:
            return self._found(base, data)
        self._answered(response, base, data)
        return False

    def _answered(self, response: Response, base: int, data: bytes) -> None:
        """Take in a 308's Range (the bytes held); raise on any other answer."""
        if response.status_code == 404:
            raise self._session_lost()
        if response.status_code != _INCOMPLETE:
            from google.api_core import exceptions

            raise exceptions.from_http_response(response)
        held = response.headers.get("Range", "")  # "bytes=0-N"; absent when none is held
        upto = int(held.rpartition("-")[2]) + 1 if held else 0
        if upto != base + len(data):
            # GCS keeps whole 256 KiB pieces of a chunk; a count between them is not real
            # (the GCS emulator says "bytes=0-0" when it holds nothing).
            upto -= upto % _RESUMABLE_QUANTUM
        if not self._held <= upto <= base + len(data):
            raise self._session_lost()  # it forgot bytes it held: the upload cannot go on
        self._crc32c.update(data[self._held - base : upto - base])
        self._held = upto

    def _found(self, base: int, data: bytes) -> bool:
        """After a lost answer to the final PUT the session is gone: is the object ours?"""
        stored = self._dest.bucket_client().get_blob(
            self._key, retry=None, timeout=self._dest.timeout
        )
        # Large objects are batches and rejects, whose keys name their content: same key and
        # size, our object (check_received still compares the CRC32C).
        if stored is None or stored.size != base + len(data):
            raise self._session_lost()
        self._dest.check_received({"crc32c": stored.crc32c}, self._whole(base, data), self._key)
        return True

    def _put(self, body: bytes, headers: dict[str, str]) -> Response:
        """One PUT to the session; until it is answered, what the session holds is unknown."""
        self._unsure = True
        http = self._dest.client()._http  # the client's authorised requests session
        response = http.put(self._session, data=body, headers=headers, timeout=self._dest.timeout)
        # A 5xx or 429 may come after part of the bytes were kept: ask again before resending.
        self._unsure = response.status_code >= 500 or response.status_code == 429
        return response

    def _whole(self, base: int, data: bytes) -> bytes:
        """The CRC32C of the object: the bytes held, then the rest of ``data``."""
        whole = self._crc32c.copy()
        whole.update(data[self._held - base :])
        return whole.digest()

    def _session_lost(self) -> Exception:
        return self._dest.error(
            f"writing {self._dest.uri(self._key)}",
            FailureCause.SERVER_ERROR,
            "the resumable upload session is gone (expired or cancelled) before the object "
            "was complete",
            "Run the hour again: nothing was published.",
        )
