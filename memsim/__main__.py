"""``python -m memsim``: the same as the ``memsim`` command."""

from memsim.cli.app import main

raise SystemExit(main())
