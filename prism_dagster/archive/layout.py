"""Where an hour lives in the archive: the one place that knows the object layout.

{prefix}/logs/{YYYY}/{MM}/{DD}/hour={HH}/batch_{id}.jsonl.gz

A batch id depends on the integration, the hour, the file's index and the hour's content:
a rerun over the same rows writes the same keys (the same archive), while a rewrite with
other rows writes new keys, so the previous manifest stays true until the new one lands.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

BATCH_SUFFIX = ".jsonl.gz"
BATCH_PREFIX = "batch_"
#: Written last; Athena, Hive and Spark skip names starting with ``_``.
MANIFEST_NAME = "_manifest.json"
REJECTS_PREFIX = "_rejects_"
#: One writer per hour: created only if absent, removed when the writer is done.
LEASE_NAME = "_lease.json"
BATCH_ID_HEX_CHARS = 12
LOGS_DIR = "logs"
PROBE_DIR = "_prism_validate"
ONE_HOUR = timedelta(hours=1)


def as_utc_hour(moment: datetime) -> datetime:
    """The UTC hour containing ``moment`` (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    """Every UTC hour in ``[start, end)``."""
    hour = as_utc_hour(start)
    end = end.astimezone(UTC) if end.tzinfo else end.replace(tzinfo=UTC)
    while hour < end:
        yield hour
        hour += ONE_HOUR


def _under(prefix: str, path: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{path}" if prefix else path


def prefix_dir(prefix: str) -> str:
    """The integration's own folder: ``prism/prod/``, or ``""`` at the root."""
    return _under(prefix, "")


def logs_dir(prefix: str) -> str:
    """The folder holding every hour, e.g. ``prism/prod/logs``."""
    return _under(prefix, LOGS_DIR)


def probe_dir(prefix: str) -> str:
    """Where ``validate`` writes its probe objects (``_``: Athena, Hive and Spark skip it)."""
    return _under(prefix, PROBE_DIR) + "/"


def logs_folder(prefix: str) -> str:
    """``logs_dir`` as a listing prefix (trailing ``/``)."""
    return logs_dir(prefix) + "/"


def probe_key(prefix: str, kind: str, token: str) -> str:
    """Key of one ``validate`` probe object, e.g. ``…/_prism_validate/probe-<token>.json``."""
    return f"{probe_dir(prefix)}{kind}-{token}.json"


def hour_folder(prefix: str, hour: datetime) -> str:
    """``hour_dir`` as a listing prefix (trailing ``/``): lists that hour and no other."""
    return hour_dir(prefix, hour) + "/"


def hour_dir(prefix: str, hour: datetime) -> str:
    """The folder of one hour, e.g. ``prism/prod/logs/2026/03/31/hour=14``."""
    hour = as_utc_hour(hour)
    return f"{logs_dir(prefix)}/{hour:%Y}/{hour:%m}/{hour:%d}/hour={hour:%H}"


def file_key(prefix: str, hour: datetime, name: str) -> str:
    """Key of a file of an hour, by its name in the hour's folder (as manifests list it)."""
    return f"{hour_dir(prefix, hour)}/{name}"


def batch_id(integration: str, hour: datetime, index: int, content: str) -> str:
    """Deterministic id of batch ``index`` of an hour holding ``content`` (a content tag)."""
    seed = f"{integration}|{as_utc_hour(hour):%Y-%m-%dT%H}|{index}|{content}".encode()
    return hashlib.sha256(seed).hexdigest()[:BATCH_ID_HEX_CHARS]


def batch_key(prefix: str, integration: str, hour: datetime, index: int, content: str) -> str:
    """Full object key of batch ``index`` of an hour."""
    name = f"{BATCH_PREFIX}{batch_id(integration, hour, index, content)}{BATCH_SUFFIX}"
    return f"{hour_dir(prefix, hour)}/{name}"


def manifest_key(prefix: str, hour: datetime) -> str:
    """Object key of the hour's manifest."""
    return f"{hour_dir(prefix, hour)}/{MANIFEST_NAME}"


def rejects_key(prefix: str, hour: datetime, content: str) -> str:
    """Object key of the hour's rejected source lines (``content``: their content tag)."""
    return f"{hour_dir(prefix, hour)}/{REJECTS_PREFIX}{content[:BATCH_ID_HEX_CHARS]}{BATCH_SUFFIX}"


def lease_key(prefix: str, hour: datetime) -> str:
    """Object key of the hour's writer lease."""
    return f"{hour_dir(prefix, hour)}/{LEASE_NAME}"


def lease_claim_key(lease_key: str, token: str) -> str:
    """Key that one taker of the stale lease ``token`` creates before it removes that lease."""
    return f"{lease_key.removesuffix('.json')}.claim-{token}.json"


# The names this plugin gives an hour's objects, exactly: anything else in the folder (or in
# a folder below it) is not the hour's, and is never taken for a batch, rejects or a claim.
_HEX_ID = f"[0-9a-f]{{{BATCH_ID_HEX_CHARS}}}"
_BATCH_NAME = re.compile(re.escape(BATCH_PREFIX) + _HEX_ID + re.escape(BATCH_SUFFIX))
_REJECTS_NAME = re.compile(re.escape(REJECTS_PREFIX) + _HEX_ID + re.escape(BATCH_SUFFIX))
_CLAIM_NAME = re.compile(
    re.escape(LEASE_NAME.removesuffix(".json")) + r"\.claim-([0-9a-f]{32}|unreadable)\.json"
)


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def is_lease_claim_key(key: str) -> bool:
    """Whether ``key`` names a claim left by the taker of a stale lease."""
    return _CLAIM_NAME.fullmatch(_name(key)) is not None


def is_rejects_key(key: str) -> bool:
    """Whether ``key`` names an hour's rejects file."""
    return _REJECTS_NAME.fullmatch(_name(key)) is not None


def is_batch_key(key: str) -> bool:
    """Whether ``key`` names a batch file (and not a manifest, rejects or temp file)."""
    return _BATCH_NAME.fullmatch(_name(key)) is not None


def in_hour(prefix: str, hour: datetime, keys: Iterable[str]) -> list[str]:
    """The ``keys`` directly in the hour's folder: a listing is recursive, and a folder below
    an hour's (another integration's prefix, say) holds objects that are not the hour's."""
    folder = hour_folder(prefix, hour)
    return [k for k in keys if k.startswith(folder) and "/" not in k[len(folder) :]]
