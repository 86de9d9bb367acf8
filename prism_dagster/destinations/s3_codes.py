"""S3 and KMS error codes, as the operator should read them: a cause and what to do."""

from __future__ import annotations

from prism_dagster.destinations.integrity import CHECKSUM_FIX
from prism_dagster.errors import FailureCause

KEY_FIX = (
    "Check kms_key_id, that the key is enabled, and that this identity may use it "
    "(kms:GenerateDataKey and kms:Decrypt; see prism-dagster permissions)."
)

# S3 error codes -> (cause, what the operator should do).
CODES: dict[str, tuple[FailureCause, str]] = {
    "NoSuchBucket": (FailureCause.MISSING_BUCKET, "Create the bucket or fix 'bucket'."),
    "AccessDenied": (
        FailureCause.ACCESS_DENIED,
        "Grant the policy `prism-dagster permissions NAME` prints (s3:PutObject, GetObject, "
        "DeleteObject, ListBucket on the prefix).",
    ),
    "InvalidAccessKeyId": (FailureCause.INVALID_CREDENTIALS, "Check access_key_id."),
    "SignatureDoesNotMatch": (FailureCause.INVALID_CREDENTIALS, "Check secret_access_key."),
    "ExpiredToken": (FailureCause.INVALID_CREDENTIALS, "Refresh session_token."),
    "InvalidToken": (FailureCause.INVALID_CREDENTIALS, "Check session_token."),
    "AuthorizationHeaderMalformed": (FailureCause.WRONG_REGION, "Set 'region' to the bucket's."),
    "PermanentRedirect": (FailureCause.WRONG_REGION, "Set 'region' to the bucket's region."),
    "IllegalLocationConstraintException": (FailureCause.WRONG_REGION, "Fix 'region'."),
    "SlowDown": (FailureCause.THROTTLED, "Lower the request rate, or try again later."),
    "ServiceUnavailable": (FailureCause.THROTTLED, "Try again later."),
    "RequestTimeout": (FailureCause.UNREACHABLE, "Check the network path to the endpoint."),
    "InternalError": (FailureCause.SERVER_ERROR, "The store failed on its side; try again later."),
    "RequestTimeTooSkewed": (FailureCause.INVALID_CREDENTIALS, "Fix this machine's clock."),
    "BadDigest": (FailureCause.CHECKSUM_MISMATCH, CHECKSUM_FIX),
    "InvalidDigest": (FailureCause.CHECKSUM_MISMATCH, CHECKSUM_FIX),
    "XAmzContentChecksumMismatch": (FailureCause.CHECKSUM_MISMATCH, CHECKSUM_FIX),
    "XAmzContentSHA256Mismatch": (FailureCause.CHECKSUM_MISMATCH, CHECKSUM_FIX),
    "ThrottlingException": (FailureCause.THROTTLED, "Lower the request rate, or try again later."),
    # KMS, from the preflight and from S3 writing with the key (S3 prefixes them "KMS.").
    "NotFoundException": (FailureCause.KEY_DENIED, KEY_FIX),
    "AccessDeniedException": (FailureCause.KEY_DENIED, KEY_FIX),
    "DisabledException": (FailureCause.KEY_DENIED, KEY_FIX),
    "KMSInvalidStateException": (FailureCause.KEY_DENIED, KEY_FIX),
    "InvalidKeyUsageException": (FailureCause.KEY_DENIED, KEY_FIX),
    "KMS.NotFoundException": (FailureCause.KEY_DENIED, KEY_FIX),
    "KMS.DisabledException": (FailureCause.KEY_DENIED, KEY_FIX),
    "KMS.KMSInvalidStateException": (FailureCause.KEY_DENIED, KEY_FIX),
}
