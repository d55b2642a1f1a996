"""``memsim data fetch|verify``: data sets with checksums."""

from __future__ import annotations

import argparse
from typing import Any

from memsim.cli._args import print_json
from memsim.errors import ConfigError

__all__ = ["register"]


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from memsim.datasets import fetch

    folder = fetch(args.name, root=args.root)
    print(f"{args.name}: all files present with the published sha256 in {folder}")
    return 0


def cmd_data_verify(args: argparse.Namespace) -> int:
    from memsim.datasets import DATASETS, verify

    result = verify(args.name, root=args.root)
    if args.json:
        print_json(result)
    else:
        for f in DATASETS[args.name].files:
            print(f"  {f}: {'ok' if result.get(f) else 'missing' if f not in result else 'CHECKSUM MISMATCH'}")
    if not all(result.values()):
        bad = [f for f, ok in result.items() if not ok]
        raise ConfigError(
            f"{args.name}: sha256 mismatch in {', '.join(bad)}; delete them and run `memsim data fetch {args.name}`"
        )
    missing = [f for f in DATASETS[args.name].files if f not in result]
    if missing:
        raise ConfigError(
            f"{args.name}: {len(missing)} file(s) missing ({', '.join(missing)}); run `memsim data fetch {args.name}`"
        )
    return 0


def register(sub: Any) -> None:
    """Add the ``data`` command group to the ``memsim`` parser."""
    from memsim.datasets import DATASETS

    data = sub.add_parser("data", help="fetch and verify data sets")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    p = dsub.add_parser("fetch", help="download a data set, check sha256, write atomically, resume")
    p.add_argument("name", choices=list(DATASETS))
    p.add_argument("--root", help="directory to fetch into (default: $MEMSIM_DATA or the user cache)")
    p.set_defaults(func=cmd_data_fetch)
    p = dsub.add_parser("verify", help="check the sha256 of a data set's files")
    p.add_argument("name", choices=list(DATASETS))
    p.add_argument("--root", help="directory holding the data set's folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_data_verify)
