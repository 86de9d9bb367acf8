"""A writer to kill with SIGKILL mid-hour: holds the hour's lease and is inside an upload.

Run as ``python -m prism_dagster_tests.support.crash_writer INTEGRATION_JSON LEASE_KEY KEY
[TTL_S]``; prints READY once the lease (for TTL_S seconds, 1 by default) is held and an
unfinished object (local temp file, S3 multipart part) exists.
"""

from __future__ import annotations

import json
import os
import sys
import time

from prism_dagster.archive.lease import HourLease
from prism_dagster.config import parse_config
from prism_dagster.defs.resources import live
from prism_dagster.destinations import ObjectKind


def main() -> None:
    integration, lease_key, key = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    config = parse_config(
        {"source": {"kind": "spool", "path": "/x"}, "integrations": [integration]}
    )
    dest = live(config.integrations[0].destination())
    ttl_s = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    lease = HourLease(dest, lease_key, f"doomed-{os.getpid()}", ttl_s=ttl_s)
    assert lease.try_acquire() is None
    with dest.open_object(key, ObjectKind.GZIP_JSONL) as sink:
        sink.write(os.urandom(6 * 2**20))  # past one 5 MiB part: S3 starts a multipart upload
        getattr(sink, "_handle", None) and sink._handle.flush()  # type: ignore[attr-defined]
        print("READY", flush=True)
        time.sleep(600)  # killed here


if __name__ == "__main__":
    main()
