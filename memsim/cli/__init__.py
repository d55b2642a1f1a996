"""The ``memsim`` command line: a thin layer over the Python API."""

from memsim.cli.main import main

__all__ = ["main"]
