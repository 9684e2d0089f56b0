"""Command-line options that several `stateless-pack` commands share."""
from __future__ import annotations

import argparse


def seconds(text: str) -> float:
    """A number of seconds > 0, for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds > 0")
    return value


def add_timeout(parser: argparse.ArgumentParser, option: str, default: float, what: str) -> None:
    """A stage's deadline: a stage past it fails the command (exit 2), naming the stage and option."""
    parser.add_argument(option, type=seconds, default=default, metavar="SECONDS",
                        help=f"deadline in seconds {what} (default: {default:g})")
