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
import os
import sys
from collections.abc import Sequence

from memsim.cli import bnn, data, demo, memory, profiles, sweep, train
from memsim.errors import MemsimError

__all__ = ["build_parser", "main"]

#: Command modules, each with ``register(subparsers)``, in the order ``memsim --help`` lists them.
COMMAND_MODULES = (profiles, memory, bnn, sweep, data, train, demo)


class _Version(argparse.Action):
    # Computed on demand: asking numba for its target costs a moment that other commands need not pay.
    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from memsim import config
        from memsim._version import __version__

        isa = config.popcount_isa()
        sys.stdout.write(f"memsim {__version__} (numba target {isa['target']}, popcount {isa['popcount']}, "
                         f"{isa['vector_words']} words per step, 16-bit lanes {isa['lanes16']})\n")  # fmt: skip
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``memsim`` command."""

    parser = argparse.ArgumentParser(
        prog="memsim", description="Approximate-memory simulator for binarized neural networks."
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and how numba compiles here")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``memsim`` command; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere, also after the subcommand
    argv = [a for a in argv if a != "--debug"]
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
    except KeyboardInterrupt:
        print("memsim: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        # Ctrl-C inside a numba kernel comes back as "SystemError: CPUDispatcher(...) returned a result with an
        # exception set", the KeyboardInterrupt in its chain (likewise from a worker): still an interrupt.
        if _interrupted(err) and not args.debug:
            print("memsim: interrupted", file=sys.stderr)
            return 130
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
