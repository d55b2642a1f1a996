"""``python -m memsim``: the same as the ``memsim`` command."""

from memsim.cli.main import main

raise SystemExit(main())
