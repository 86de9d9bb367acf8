"""What ``dg scaffold defs prism_dagster.PrismArchiveComponent NAME`` writes: a ``defs.yaml``
that loads and archives as written (a spool folder in, a local folder out), with the cloud
providers' fields shown in comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from prism_dagster.config.loading import COMPONENT_TYPE

SPOOL = ".prism/spool"
ARCHIVE = ".prism/archive"

_TEMPLATE = """\
type: {type}

# The keys of prism.yaml (docs/configuration.md lists every field, its type, default and range).
# Relative folders are relative to the project root. Secrets are never written here: give
# {{env: NAME}} and set the variable where Dagster runs.
attributes:
  source:
    kind: spool      # the gateway's NDJSON (.gz) files; or kind: postgres, dsn: {{env: NAME}}
    path: {spool}
  integrations:
    - name: local_archive
      provider: local          # a local folder plays the bucket
      path: {archive}
      prefix: prism            # objects go to {{prefix}}/logs/YYYY/MM/DD/hour=HH/
      start: "{start}"   # the first UTC hour archived
    # Amazon S3 (or an S3-compatible store):
    # - name: s3_archive
    #   provider: s3
    #   bucket: my-log-archive
    #   prefix: prism/production
    #   region: us-east-1
    #   access_key_id: {{env: AWS_ACCESS_KEY_ID}}          # or leave both out for the
    #   secret_access_key: {{env: AWS_SECRET_ACCESS_KEY}}  # default AWS credential chain
    #   start: "{start}"
    # Azure Blob Storage:
    # - name: azure_archive
    #   provider: azure
    #   container: logs
    #   connection_string: {{env: AZURE_STORAGE_CONNECTION_STRING}}
    #   start: "{start}"
    # Google Cloud Storage:
    # - name: gcs_archive
    #   provider: gcs
    #   bucket: my-log-archive
    #   service_account_json: {{env: GCS_SERVICE_ACCOUNT_JSON}}  # or default credentials
    #   start: "{start}"
"""


def scaffold_text(start: datetime) -> str:
    """The ``defs.yaml`` the scaffolder writes, archiving from ``start``."""
    return _TEMPLATE.format(
        type=COMPONENT_TYPE, spool=SPOOL, archive=ARCHIVE, start=f"{start:%Y-%m-%dT%H}"
    )


class PrismArchiveScaffolder(dg.Scaffolder):
    """Writes ``defs.yaml`` and creates the spool folder it names (relative to the project)."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
        target = Path(request.target_path)
        target.mkdir(parents=True, exist_ok=True)
        (target / "defs.yaml").write_text(scaffold_text(start))
        root = Path(request.project_root) if request.project_root else Path.cwd()
        (root / SPOOL).mkdir(parents=True, exist_ok=True)
