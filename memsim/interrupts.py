"""Ctrl-C with worker processes: workers start with SIGINT ignored, and the process that owns them decides.

A terminal's Ctrl-C reaches the whole foreground process group, so a sweep's pool workers and
a local Dask cluster's workers receive it too: each would print its own traceback. A signal
disposition set to ignore survives ``exec`` (and Python keeps an ignored SIGINT ignored), so
starting them inside :func:`ignored_interrupt` makes them deaf to it for life; the parent then
cancels their work and stops them.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["ignored_interrupt"]


@contextlib.contextmanager
def ignored_interrupt() -> Iterator[None]:
    """SIGINT ignored for the ``with`` block, to start worker processes in it (main thread only).

    A Ctrl-C during the block is lost, as the disposition is process-wide: keep the block to the
    moment the workers spawn. Elsewhere than in the main thread nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
