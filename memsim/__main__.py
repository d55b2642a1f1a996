"""``python -m memsim``: the same as the ``memsim`` command."""

from memsim.cli.app import console

raise SystemExit(console())
