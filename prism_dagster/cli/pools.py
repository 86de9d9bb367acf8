"""`prism-dagster pools [--apply]`: the Dagster pools prism.yaml declares, with their limits.

Dagster keeps pool limits in its instance; this prints the `dagster instance concurrency set`
commands for the configured limits and, with ``--apply``, runs them on ``$DAGSTER_HOME``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from prism_dagster.cli.arguments import FINE, add_command, add_config_option, exit_codes
from prism_dagster.errors import PrismError


def commands(config_path: Path | None) -> list[list[str]]:
    """One ``dagster instance concurrency set NAME LIMIT`` per pool of prism.yaml."""
    from prism_dagster.config import load_config

    config = load_config(config_path)
    limits = config.pools.limits(config.namespace, config.integrations)
    return [
        ["dagster", "instance", "concurrency", "set", name, str(limit)]
        for name, limit in limits.items()
    ]


def run(args: argparse.Namespace) -> int:
    """Print the commands; with ``--apply``, run each with the dagster next to this Python."""
    for argv in commands(args.config):
        print(" ".join(argv))
        if not args.apply:
            continue
        dagster = str(Path(sys.executable).with_name("dagster"))
        done = subprocess.run([dagster, *argv[1:]], capture_output=True, text=True)
        if done.returncode != 0:
            # Dagster ends with the exception's own message: that line, not its traceback.
            said = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise PrismError(f"{' '.join(argv)} failed: {said}")
    return FINE


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``pools`` on the top-level parser's subcommands."""
    pools = add_command(
        sub,
        "pools",
        "the Dagster pool limits prism.yaml configures",
        exit_codes(
            "the commands were printed (and, with --apply, each succeeded)",
            "--apply: a dagster command failed (its error is printed)",
        ),
        run,
    )
    pools.add_argument(
        "--apply", action="store_true", help="set them on the instance at $DAGSTER_HOME"
    )
    add_config_option(pools)
