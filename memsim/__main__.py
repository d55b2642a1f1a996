"""``python -m memsim``: the same as the ``memsim`` command."""

from memsim.cli.app import console

status = console()
# CPython quirk (3.11): a Ctrl-C that lands while a C extension runs Python code during an import (Cython's
# module init, under numba's import of scipy) sets the interpreter's "unhandled KeyboardInterrupt" flag
# even though memsim caught it; under -m that flag turns exit status 130 into death by SIGINT. Running
# any code through PyRun resets it; the `memsim` console script exits before the flag is read.
try:
    import ctypes

    ctypes.pythonapi.PyRun_SimpleString(b"")
except (ImportError, AttributeError, OSError):  # not CPython: no such flag
    pass
raise SystemExit(status)
