"""memsim command line: ``main`` and the parser, assembled from one module per command group.

Usage::

    memsim profiles list [--json]
    memsim profiles show NAME [--json]
    memsim profiles plot NAME -o FILE [--knob KNOB]
    memsim profiles import csv FILE -o OUT.yaml --technology T --reference TEXT [--name N] [--nominal X]
    memsim profiles import maps PATH [PATH ...] -o OUT.yaml --technology T --reference TEXT [--voltages V ...]
    memsim at PROFILE [--<knob> VALUE ...] [--extrapolate] [--json]     e.g. --vdd-v 1.1 --trcd-ns 10
    memsim memory [PROFILE --<knob> VALUE ... | --ber P | --p01 A --p10 B] [--bits N] [--reads R]
                  [--fault-model M] [--persistent-fraction F] [--seed S] [--json]
    memsim evaluate MODEL [--profile P --<knob> V | --ber B] [--fault-model M] [--granularity G] [--json]
    memsim sweep --model M [--model ...] (--profile P --<knob> VALUES ... | --ber VALUES) --out DIR
                 [--trials N] [--seed S] [--workers N] [--resume] [--config FILE.yaml] [--dump-config]
    memsim search --model M --profile P --knob KNOB [--max-accuracy-drop 0.01] [--trials N]
    memsim optimize --model M --profile P [--knob K] [--region NAME=PATTERN ...] [--codes secded64] [--out F.json]
    memsim report DIR [--max-accuracy-drop 0.01] [--conservative] [--format text|markdown|csv|json]
    memsim plot DIR -o FILE [--kind accuracy-ber|energy-accuracy|latency-accuracy]
    memsim margins MODEL [--dataset NAME] [--split test] [--limit N] [--no-importance] [--json]
    memsim data fetch NAME [--root DIR] | memsim data verify NAME [--root DIR] [--json]
    memsim train --arch ARCH --loss {cel,mhl} [--b B] [--train-ber P] --epochs N --out models/NAME.npz [--resume]
    memsim demo

Every command that prints data takes ``--json``. Errors print one line and exit
with status 1; ``--debug`` shows the traceback. Each command is a thin layer over
one Python API call.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from memsim.errors import MemsimError

__all__ = ["build_parser", "console", "main"]

#: Command modules, each with ``register(subparsers)``, in the order ``memsim --help`` lists them; imported
#: by :func:`build_parser`, inside :func:`main`'s Ctrl-C handling.
COMMAND_MODULES = ("profiles", "memory", "bnn", "sweep", "data", "train", "demo")


class _Version(argparse.Action):
    # Computed on demand: asking numba for its target costs a moment that other commands need not pay.
    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from memsim import config
        from memsim._version import __version__

        isa = config.popcount_isa()
        sys.stdout.write(
            f"memsim {__version__} (numba target {isa['target']}, popcount {isa['popcount']}, "
            f"{isa['vector_words']} words per step, 16-bit lanes {isa['lanes16']})\n"
        )
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``memsim`` command."""

    parser = argparse.ArgumentParser(
        prog="memsim", description="Approximate-memory simulator for binarized neural networks."
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and how numba compiles here")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"memsim.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``memsim`` command; returns the exit status (130 after Ctrl-C, wherever it lands)."""
    return _main(argv, final=False)


def console() -> int:
    """The ``memsim`` console script: :func:`main`, and no Ctrl-C after it.

    The work is done and its status decided when ``main`` returns; an interrupt while Python closes
    (a Dask cluster's or a process pool's atexit hooks) would otherwise kill the process by SIGINT.
    """
    return _main(None, final=True)


def _main(argv: Sequence[str] | None, final: bool) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere, also after the subcommand
    with _Interrupts(final) as interrupts:
        try:
            status = _run([a for a in argv if a != "--debug"], debug)
        except KeyboardInterrupt:  # also while the parser imports the commands (numba takes ~0.5 s to load)
            if debug:
                raise
            status = 130
        except Exception:
            # An interrupt that landed inside a library can come out as another error: numba's compiler,
            # interrupted while it builds a kernel, raises "no compiled object yet" when it caches it.
            if debug or not interrupts.count:
                raise
            status = 130
        if interrupts.count and status in (0, 130):  # 0: a library swallowed it (Dask's gc callback does)
            print("memsim: interrupted", file=sys.stderr)
            status = 130
        elif status == 130:
            print("memsim: interrupted", file=sys.stderr)
    return status


class _Interrupts:
    """SIGINT while a command runs: the first raises KeyboardInterrupt, later ones are counted, not raised.

    Counting makes an interrupt that a library caught and dropped still end as one (exit 130); not
    raising the second lets the cleanup that the first started (closing a cluster, a pool) finish.
    An interrupt Python could not raise (it landed in a gc callback or a finalizer) is not printed as
    "Exception ignored": it is counted already. In a thread other than the main one (embedded use),
    Python's handlers stay as they are.
    """

    def __init__(self, final: bool = False) -> None:
        self.final = final  # the process ends after: leave SIGINT ignored rather than restore Python's handler
        self.count = 0
        self._previous: Any = None
        self._hook: Any = None

    def _unraisable(self, info: Any) -> None:
        if not isinstance(info.exc_value, KeyboardInterrupt):
            self._hook(info)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count == 1:
            raise KeyboardInterrupt

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        return self

    def __exit__(self, *exc: object) -> None:
        # signal.signal first runs a handler for an interrupt still pending: this one (counted), not the
        # default one, which would raise a KeyboardInterrupt out of the finished command.
        if self._previous is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN if self.final else self._previous)
            sys.unraisablehook = self._hook


def _run(argv: list[str], debug: bool) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.debug = debug
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if getattr(args, "takes_extra", False):
            return int(args.func(args, extra))
        return int(args.func(args))
    except BrokenPipeError:  # the reader went away (`memsim ... | head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the closed pipe
    except (MemsimError, OSError) as err:
        if args.debug:
            raise
        print(f"memsim: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        # Ctrl-C inside a numba kernel comes back as "SystemError: CPUDispatcher(...) returned a result with an
        # exception set", the KeyboardInterrupt in its chain (likewise from a worker): still an interrupt.
        if _interrupted(err) and not args.debug:
            raise KeyboardInterrupt from err
        raise


def _interrupted(err: BaseException) -> bool:
    """Whether ``err`` is, or was caused by, a KeyboardInterrupt (following ``__cause__`` and ``__context__``)."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        stack += [e.__cause__, e.__context__]
    return False
