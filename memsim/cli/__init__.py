"""The ``memsim`` command line: a thin layer over the Python API (entry point :func:`memsim.cli.app.main`)."""
