"""An integration's fields policy, applied as records are written: fields left out, fields hashed.

A hashed field holds HMAC-SHA256(key = the salt as UTF-8, message = the value as UTF-8) in
lower-case hex: one value gives one hash under one salt, so joins on it still work and reruns
write the same bytes. The value hashed is the one that would otherwise be written (after
normalisation: defaults, ``error_message`` cut to 500 characters). An empty value stays empty:
every empty value would share one hash, which tells a reader no more than ``""`` does.

Rejected source lines cannot be redacted field by field (a bad line is often not JSON at
all), so under a policy their ``line`` is withheld (null) and each ``reason`` loses the value it
quotes; ``source_file`` and ``line_number`` still say where the line is in the source.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

import polars as pl

from prism_dagster.archive.schema import FIELD_DESCRIPTIONS, RECORD_COLUMNS, RECORD_SCHEMA
from prism_dagster.errors import ConfigError

HASH_ALGORITHM = "hmac-sha256"
#: A shorter salt could be found by trying salts against one known value and its hash.
MIN_SALT_CHARS = 16
#: What a content tag mixes in for the salt: a keyed digest of this, never the salt itself.
_TAG_MESSAGE = b"prism-content-tag"
#: Reasons quote the offending value after ", got " or inside "(...)": cut from there on.
_QUOTED_VALUE = r"(?s)(, got | \().*$"


def field_problem(name: str, how: str) -> str | None:
    """Why ``name`` cannot be excluded (``how="exclude"``) or hashed (``"hash"``), else None."""
    if name not in RECORD_SCHEMA:
        return f"unknown field {name!r} (the record's fields: {', '.join(RECORD_COLUMNS)})"
    if name == "timestamp":
        return (
            "'timestamp' cannot be excluded or hashed: it is each row's event time, which "
            "files the row under its hour folder and orders the hour's rows (timestamp, "
            "request_id); readers check both with it, and the Athena view tells records "
            "from rejected lines by it when request_id is excluded"
        )
    if how == "hash" and RECORD_SCHEMA[name] != pl.String:
        kind = RECORD_SCHEMA[name].__class__.__name__.lower()
        return (
            f"{name!r} is {kind}, not text: a hash is text, so hashing it would change the "
            "field's type for every reader; only text fields can be hashed (exclude it instead)"
        )
    return None


def hashed_description(name: str) -> str:
    """How a hashed field is described in the column schema and the query definitions."""
    return (
        f"HMAC-SHA256 (lower-case hex, keyed with the integration's salt) of {name}; "
        f"empty when the value was empty. {FIELD_DESCRIPTIONS.get(name, '')}"
    ).strip()


@dataclass(frozen=True)
class FieldPolicy:
    """Fields left out and fields hashed; ``salt`` only when it was read (a run, the CLI)."""

    exclude: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()
    salt: bytes | None = field(default=None, repr=False)  # never in a repr, log or message

    def __post_init__(self) -> None:
        # Checked here too: the IO manager's config can be edited at launch, past prism.yaml.
        for how, names in (("exclude", self.exclude), ("hash", self.hash)):
            for name in names:
                problem = field_problem(name, how)
                if problem:
                    raise ConfigError(f"fields.{how}: {problem}")
        both = sorted(set(self.exclude) & set(self.hash))
        if both:
            raise ConfigError(f"fields: {both} cannot be both excluded and hashed")
        if self.hash and self.salt is not None and len(self.salt) < MIN_SALT_CHARS:
            raise ConfigError(
                f"fields.salt: the salt is {len(self.salt)} bytes; use at least "
                f"{MIN_SALT_CHARS} random characters (e.g. `openssl rand -hex 32`)"
            )

    @property
    def active(self) -> bool:
        """Whether anything is excluded or hashed (else records are written as they are)."""
        return bool(self.exclude or self.hash)

    @property
    def columns(self) -> list[str]:
        """The fields written, in the record's key order."""
        return [name for name in RECORD_COLUMNS if name not in self.exclude]

    def schema(self) -> dict[str, pl.DataType]:
        """The written fields and their types (hashed fields are text, as they were)."""
        return {name: RECORD_SCHEMA[name] for name in self.columns}

    def descriptions(self) -> dict[str, str]:
        """Each written field's one-line description, hashed ones described as hashes."""
        return {
            name: hashed_description(name) if name in self.hash else FIELD_DESCRIPTIONS[name]
            for name in self.columns
        }

    def tag(self) -> bytes:
        """What a content tag mixes in: the field lists and a digest keyed with the salt."""
        if not self.active:
            return b""  # no policy: content tags, and so keys, as before policies existed
        salt = hmac.digest(self._key(), _TAG_MESSAGE, "sha256").hex() if self.hash else ""
        return f"|exclude={','.join(self.exclude)}|hash={','.join(self.hash)}|{salt}".encode()

    def apply(self, records: pl.DataFrame) -> pl.DataFrame:
        """Normalised records (all 19 fields) as they are written under this policy."""
        if not self.active:
            return records
        if self.hash:
            key = self._key()
            records = records.with_columns(_hmac_hex(records.get_column(c), key) for c in self.hash)
        return records.select(self.columns)

    def apply_rejects(self, rejects: pl.DataFrame) -> pl.DataFrame:
        """Rejects as written under this policy: no source line, no value quoted in a reason."""
        if not self.active:
            return rejects
        return rejects.with_columns(
            pl.lit(None, dtype=pl.String).alias("line"),
            pl.col("reason").str.replace(_QUOTED_VALUE, ""),
        )

    def _key(self) -> bytes:
        if self.salt is None:
            raise ConfigError(
                f"fields.hash {list(self.hash)} needs the salt, which was not read: the "
                "archive must be written by a started IO manager (a run, or the CLI's live())"
            )
        return self.salt


def _hmac_hex(values: pl.Series, key: bytes) -> pl.Series:
    """Each value's HMAC-SHA256 in hex ("" stays "", null stays null), once per distinct value."""
    distinct = values.drop_nulls().unique()
    base = hmac.new(key, digestmod="sha256")
    hashes = []
    for value in distinct.to_list():
        mac = base.copy()  # the key's padding is hashed once, not once per value
        mac.update(value.encode())
        hashes.append(mac.hexdigest() if value else "")
    return values.replace_strict(
        distinct, pl.Series(hashes, dtype=pl.String), return_dtype=pl.String
    )
