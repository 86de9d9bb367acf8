"""What issue 14 adds to writing an hour: checksums per provider, and field redaction.

One process, one frame of simulated records (bench_write.make_frame). The baseline is the
plugin's own write of those records to a local folder (``write_frame``: JSON, gzip, files),
timed in the same run; each addition is printed as its time and its ratio to that baseline:

* checksums of the written gzip bytes, as each destination computes them per upload:
  S3 SHA-256 (sent) plus MD5 (the ETag check) per part; Azure MD5 (Content-MD5) per part;
  GCS CRC32C over the object;
* the write again under a ``fields:`` policy that hashes ``request_id`` (unique per row, the
  worst case: one HMAC per row), then also excluding ``error_message``.

Best of ``--repeat`` runs each. Not a test: nothing is asserted.

    python benchmarks/bench_integrity.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import google_crc32c

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_write import make_frame

from prism_dagster.archive.settings import FieldSettings, WriteSettings
from prism_dagster.archive.writer import write_frame
from prism_dagster.destinations import LocalDestination
from prism_dagster.destinations.integrity import md5_b64, md5_hex, sha256_b64

PART = 8 * 2**20  # the default part_size_mb


def _best(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def _parts(data: bytes) -> list[bytes]:
    return [data[i : i + PART] for i in range(0, len(data), PART)] or [b""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frame = make_frame(args.rows)
    folder = Path(tempfile.mkdtemp(prefix="prism-bench-integrity-"))
    dest = LocalDestination(path=str(folder))
    plain = WriteSettings()
    salt = "bench-salt-0123456789abcdef"
    policies = {
        "write, fields: hash request_id": FieldSettings(hash=["request_id"], salt=salt),
        "write, fields: also exclude error_message": FieldSettings(
            exclude=["error_message"], hash=["request_id"], salt=salt
        ),
    }

    def write(settings: WriteSettings, key: str) -> None:
        write_frame(dest, frame, lambda i: f"{key}_{i}.jsonl.gz", settings)

    baseline = _best(args.repeat, lambda: write(plain, "plain"))
    data = b"".join(p.read_bytes() for p in sorted(folder.glob("plain_*")))
    parts = _parts(data)
    costs = {
        "S3: SHA-256 + MD5 per part": lambda: [(sha256_b64(p), md5_hex(p)) for p in parts],
        "Azure: MD5 per part": lambda: [md5_b64(p) for p in parts],
        "GCS: CRC32C of the object": lambda: google_crc32c.Checksum(data).digest(),
    }
    mib = len(data) / 2**20
    print(f"{frame.height:,} rows; {mib:.1f} MiB of gzip; best of {args.repeat}")
    print(f"{'baseline: write_frame to a local folder':44s} {baseline:8.3f} s   1.000x")
    for name, cost in costs.items():
        seconds = _best(args.repeat, cost)
        print(f"{name:44s} {seconds:8.3f} s   +{seconds / baseline:.3f}x")
    for n, (label, fields) in enumerate(policies.items()):
        settings = WriteSettings(fields=fields)
        seconds = _best(args.repeat, lambda: write(settings, f"redacted{n}"))  # noqa: B023
        print(f"{label:44s} {seconds:8.3f} s   {seconds / baseline:.3f}x")
    # The baseline once more, last: how far the machine drifted over the run.
    again = _best(args.repeat, lambda: write(plain, "plain"))
    print(f"{'baseline again, last':44s} {again:8.3f} s   {again / baseline:.3f}x")


if __name__ == "__main__":
    main()
