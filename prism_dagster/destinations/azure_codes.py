"""Azure Blob error codes, as the operator should read them: a cause and what to do."""

from __future__ import annotations

from prism_dagster.destinations.integrity import CHECKSUM_FIX
from prism_dagster.errors import FailureCause

PERMISSIONS = (
    "Check the account key or SAS token, and that it may write the container "
    "('Storage Blob Data Contributor' as `prism-dagster permissions NAME` prints it, or a SAS "
    "with racwdl)."
)
CPK_FIX = (
    "The blob was written with another customer-provided key: set encryption_key to the key "
    "it was written with (blobs keep the key they were written with; rotate by rewriting)."
)
# Azure error codes -> (cause, what the operator should do).
CODES: dict[str, tuple[FailureCause, str]] = {
    "ContainerNotFound": (FailureCause.MISSING_BUCKET, "Create the container or fix 'container'."),
    "AuthenticationFailed": (FailureCause.INVALID_CREDENTIALS, "Check the account key or SAS."),
    "InvalidAuthenticationInfo": (FailureCause.INVALID_CREDENTIALS, "Check the credential."),
    "AuthorizationFailure": (FailureCause.ACCESS_DENIED, PERMISSIONS),
    "AuthorizationPermissionMismatch": (FailureCause.ACCESS_DENIED, PERMISSIONS),
    "AuthorizationResourceTypeMismatch": (FailureCause.ACCESS_DENIED, PERMISSIONS),
    "InsufficientAccountPermissions": (FailureCause.ACCESS_DENIED, PERMISSIONS),
    "AccountIsDisabled": (FailureCause.ACCESS_DENIED, "Enable the storage account."),
    "ServerBusy": (FailureCause.THROTTLED, "Lower the request rate, or try again later."),
    "OperationTimedOut": (FailureCause.UNREACHABLE, "Check the network path to the account."),
    "InternalError": (FailureCause.SERVER_ERROR, "The store failed on its side; try again later."),
    "Md5Mismatch": (FailureCause.CHECKSUM_MISMATCH, CHECKSUM_FIX),
    "Crc64Mismatch": (FailureCause.CHECKSUM_MISMATCH, CHECKSUM_FIX),
    "BlobUsesCustomerSpecifiedEncryption": (FailureCause.KEY_DENIED, CPK_FIX),
}
SCOPE_FIX = "Check encryption_scope: it must exist in the storage account and be enabled."
