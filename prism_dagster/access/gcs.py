"""The IAM bindings for a GCS integration: object access conditioned on the prefix, listing
on the bucket, and the CMEK grant for Cloud Storage's service agent.

destinations/gcs.py uploads (one request or a resumable session: storage.objects.create, and
storage.objects.delete to replace an object), downloads (get), lists with a prefix (list) and
deletes (delete); ``validate`` makes the same calls. No bucket metadata is read.
"""

from __future__ import annotations

import shlex
from typing import Any

from prism_dagster.access.common import Placeholders, roots, unset_env
from prism_dagster.config.fields import shown
from prism_dagster.config.integrations import GcsIntegration

OBJECT_ROLE = "roles/storage.objectUser"
LISTER_ID = "prismObjectLister"
CMEK_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
MEMBER = "serviceAccount:<service-account-email>"
#: Cloud Storage's service agent of the project: it, not the writer, uses a CMEK key.
AGENT = "serviceAccount:service-{}@gs-project-accounts.iam.gserviceaccount.com"


def gcs_permissions(integration: GcsIntegration, where: Placeholders) -> dict[str, Any]:
    """The bindings, the custom listing role, the gcloud commands and notes."""
    bucket = shown(integration.bucket) or ""
    project = shown(integration.project) or "<project-id>"
    keys = roots(integration.prefix)
    expression = " || ".join(
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{key}")' for key in keys
    )
    title = f"prism-{integration.name}-prefix"
    lister = f"projects/{project}/roles/{LISTER_ID}"
    bindings: list[dict[str, Any]] = [
        {
            "role": OBJECT_ROLE,
            "members": [MEMBER],
            "condition": {
                "title": title,
                "description": "objects under the integration's prefix only",
                "expression": expression,
            },
        },
        {"role": lister, "members": [MEMBER]},
    ]
    gs = f"gs://{bucket}"
    commands = [
        shlex.join(
            ["gcloud", "iam", "roles", "create", LISTER_ID, f"--project={project}",
             "--title=Prism object lister", "--permissions=storage.objects.list", "--stage=GA"]
        ),
        shlex.join(
            ["gcloud", "storage", "buckets", "add-iam-policy-binding", gs,
             f"--member={MEMBER}", f"--role={lister}"]
        ),
        shlex.join(
            ["gcloud", "storage", "buckets", "add-iam-policy-binding", gs,
             f"--member={MEMBER}", f"--role={OBJECT_ROLE}",
             f"--condition=expression={expression},title={title}"]
        ),
    ]  # fmt: skip
    notes = unset_env(integration.bucket, integration.project, integration.kms_key_name)
    notes += [
        "a condition on listing never matches object names (a list request names the bucket), "
        f"so {LISTER_ID} grants storage.objects.list alone on the bucket, unconditioned",
        "conditional bindings need uniform bucket-level access on the bucket",
    ]
    result: dict[str, Any] = {
        "integration": integration.name,
        "provider": "gcs",
        "bucket": bucket,
        "prefixes": keys,
        "bindings": bindings,
        "custom_roles": [
            {
                "name": lister,
                "title": "Prism object lister",
                "permissions": ["storage.objects.list"],
            }
        ],
    }
    if integration.kms_key_name is not None:
        key = shown(integration.kms_key_name) or ""
        agent = AGENT.format(where.project_number)
        result["kms"] = {"key": key, "role": CMEK_ROLE, "members": [agent]}
        commands.append(
            shlex.join(["gcloud", "storage", "service-agent", f"--project={project}",
                        f"--authorize-cmek={key}"])
        )  # fmt: skip
        notes.append(
            "CMEK: Cloud Storage's service agent uses the key, the writer needs no KMS role"
        )
    if integration.anonymous:
        notes.append("anonymous: an emulator, where no IAM applies")
    return {**result, "commands": commands, "notes": notes}
