"""``memsim demo``: the tour of :func:`memsim.demo.run_demo`, on shipped data."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def cmd_demo(args: argparse.Namespace) -> int:
    from memsim.demo import run_demo

    print(run_demo().to_text())
    return 0


def register(sub: Any) -> None:
    """Add the ``demo`` command to the ``memsim`` parser."""
    p = sub.add_parser("demo", help="a tour of what memsim does, on shipped data")
    p.set_defaults(func=cmd_demo)
