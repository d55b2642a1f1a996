"""``memsim demo``: the tour of :func:`memsim.demo.run_demo`, on shipped data."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def cmd_demo(args: argparse.Namespace) -> int:
    from memsim.demo import run_demo

    print(run_demo(args.out, workers=args.workers, progress=not args.quiet).to_text())
    return 0


def register(sub: Any) -> None:
    """Add the ``demo`` command to the ``memsim`` parser."""
    p = sub.add_parser("demo", help="a voltage sweep of an SRAM weight memory on shipped models and data")
    p.add_argument("--out", default="memsim-demo", help="result directory (default ./memsim-demo)")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)
