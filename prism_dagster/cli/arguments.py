"""What every ``prism-dagster`` command shares: its exit codes, usage errors told in one line,
hours as people type them, and the ``--config`` option."""

from __future__ import annotations

import argparse
import re
import textwrap
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import NoReturn

#: Exit codes, the same for every command (each --help says what they mean for it).
FINE, PROBLEM, USAGE = 0, 1, 2
_USAGE_TEXT = "bad usage or configuration (an argument, prism.yaml, an unknown NAME)"


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error told in one line (exit 2) and epilogs kept as written."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def exit_codes(fine: str, problem: str | None = None) -> str:
    """A command's ``--help`` epilog: what each of its exit codes means."""
    meanings = {FINE: fine, PROBLEM: problem, USAGE: _USAGE_TEXT}
    lines = ["exit codes:"]
    for code, meaning in meanings.items():
        if meaning:
            lines += textwrap.wrap(
                meaning, 78, initial_indent=f"  {code}  ", subsequent_indent=" " * 5
            )
    return "\n".join(lines)


def hour_argument(text: str) -> datetime:
    """A UTC hour typed on the command line. A bare day is refused rather than silently
    taken as its midnight: an hour is always written as one."""
    from prism_dagster.config.fields import parse_hour  # only now: --help stays quick

    day = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a day, not an hour: give {day}T00 for its first hour"
        )
    try:
        return parse_hour(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config``: prism.yaml, or a component's defs.yaml."""
    parser.add_argument(
        "--config", type=Path, default=None, help="default: $PRISM_CONFIG or prism.yaml"
    )


def add_name_argument(parser: argparse.ArgumentParser) -> None:
    """``NAME``: the integration a command is about."""
    parser.add_argument("name", metavar="NAME", help="integration name in prism.yaml")


def add_command(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    text: str,
    codes: str,
    run: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """A subcommand: its help, its exit codes as its epilog, what runs it, and ``usage``
    (a usage error the command finds itself, told as the parser tells its own)."""
    cmd = sub.add_parser(name, help=text, description=text, epilog=codes)
    cmd.set_defaults(run=run, usage=cmd.error)
    return cmd
