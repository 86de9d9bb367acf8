"""Globs, regular expressions and templates for the archive's keys, derived from ``layout``.

``layout`` is the one module that knows the key layout. It formats real hours; these helpers
format a probe hour through it and turn the probe's fields back into placeholders, so every
pattern the query engines get follows ``layout`` (and fails loudly if it ever changes shape).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache

from prism_dagster.archive import layout

#: Each field's text is unique in the probe, so it can be found and replaced unambiguously.
_PROBE = datetime(1987, 11, 29, 13, tzinfo=UTC)
_CHECK = datetime(2031, 2, 3, 4, tzinfo=UTC)
#: Placeholder -> strftime code, in no particular order (``hour_fields`` gives the key order).
_FIELDS = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "HH": "%H"}
_DIGITS = {"YYYY": 4, "MM": 2, "DD": 2, "HH": 2}
_JAVA = {"YYYY": "yyyy", "MM": "MM", "DD": "dd", "HH": "HH"}


class LayoutShapeError(RuntimeError):
    """``layout`` no longer has the shape these patterns assume."""


def _relative_hour_dir(hour: datetime) -> str:
    return layout.hour_dir("", hour).removeprefix(layout.logs_dir("") + "/")


@cache
def hour_template() -> str:
    """An hour's folder under ``logs/`` with placeholders, e.g. ``{YYYY}/{MM}/{DD}/hour={HH}``."""
    template = _relative_hour_dir(_PROBE)
    for field, code in _FIELDS.items():
        text = _PROBE.strftime(code)
        if template.count(text) != 1:
            raise LayoutShapeError(f"layout.hour_dir does not hold {field} once: {template!r}")
        template = template.replace(text, "{" + field + "}")
    check = template.format(**{f: _CHECK.strftime(c) for f, c in _FIELDS.items()})
    if check != _relative_hour_dir(_CHECK):
        raise LayoutShapeError(f"layout.hour_dir is not {template!r} for every hour")
    return template


def hour_fields() -> list[str]:
    """The placeholders in the order they appear in a key (Synapse's ``filepath(n)`` order)."""
    template = hour_template()
    return sorted(_FIELDS, key=lambda field: template.index("{" + field + "}"))


def _literal_parts(fill: dict[str, str], escape: bool) -> str:
    """``hour_template`` with each placeholder replaced and (optionally) the rest regex-escaped."""
    pieces = re.split(r"(\{[A-Z]+\})", hour_template())
    out = []
    for piece in pieces:
        if piece.startswith("{") and piece.endswith("}"):
            out.append(fill[piece[1:-1]])
        else:
            out.append(re.escape(piece) if escape else piece)
    return "".join(out)


def hour_glob() -> str:
    """Every hour folder under ``logs/``: ``*/*/*/hour=*``."""
    return _literal_parts({f: "*" for f in _FIELDS}, escape=False)


def batch_name_glob() -> str:
    """A batch file's name: ``batch_*.jsonl.gz`` (not a manifest, rejects, lease or temp file)."""
    return f"{layout.BATCH_PREFIX}*{layout.BATCH_SUFFIX}"


def batch_glob() -> str:
    """Every batch file under ``logs/`` and nothing else: ``*/*/*/hour=*/batch_*.jsonl.gz``."""
    return f"{hour_glob()}/{batch_name_glob()}"


def hour_strptime() -> str:
    """The hour folder as a strptime format: ``%Y/%m/%d/hour=%H``."""
    return _literal_parts(_FIELDS, escape=False)


def batch_file_regex() -> str:
    """A regex on a batch file's path or URI; group 1 is its hour folder, ``2026/03/31/hour=14``."""
    digits = {f: rf"\d{{{n}}}" for f, n in _DIGITS.items()}
    name = f"{re.escape(layout.BATCH_PREFIX)}[^/]*{re.escape(layout.BATCH_SUFFIX)}"
    return f"/({_literal_parts(digits, escape=True)})/{name}$"


def day_and_hour_template() -> tuple[str, str, str]:
    """(location template with ``${day}`` and ``${hour}``, day's Java format, hour's digits).

    For Athena's partition projection, which needs the date fields next to each other.
    """
    date_part = "{YYYY}/{MM}/{DD}"
    template = hour_template()
    if template.count(date_part) != 1 or template.count("{HH}") != 1:
        raise LayoutShapeError(f"the hour folder {template!r} has no {date_part} part")
    java = date_part.format(**_JAVA)
    location = template.replace(date_part, "${day}").replace("{HH}", "${hour}")
    return location, java, str(_DIGITS["HH"])
