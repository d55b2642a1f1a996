"""Argument handling shared by the command modules: knob flags, rates, limits, models, JSON."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from memsim.errors import ConfigError, UnknownNameError, suggest
from memsim.report.text import to_json

__all__ = ["check_limit", "load_net", "parse_knob_args", "print_json", "resolve_rates"]


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON."""
    print(to_json(data))


def knob_options(extra: Sequence[str], what: str = "VALUE") -> list[tuple[str, str, str]]:
    """``--vdd-v 1.1 --trcd-ns=10`` as ``[(flag, knob name, value text), ...]`` (``--x-y`` names knob ``x_y``)."""
    out: list[tuple[str, str, str]] = []
    items = list(extra)
    i = 0
    while i < len(items):
        token = items[i]
        if not token.startswith("--"):
            raise ConfigError(f"unexpected argument {token!r}; knobs are given as --<knob> {what}")
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(items):
                raise ConfigError(f"--{key} needs {'a value' if what == 'VALUE' else what}")
            value = items[i + 1]
            i += 1
        i += 1
        name = key.replace("-", "_")
        if any(n == name for _, n, _ in out):
            raise ConfigError(f"--{key} is given twice; give its values once (a comma list or START:STOP:NUM)")
        out.append((f"--{key}", name, value))
    return out


def parse_knob_args(profile: Any, extra: Sequence[str]) -> dict[str, float | str]:
    """Turn ``--vdd-v 1.1 --trcd-ns=10`` into ``{"vdd_v": 1.1, "trcd_ns": 10.0}`` for this profile."""
    knobs: dict[str, float | str] = {}
    for flag, name, value in knob_options(extra):
        key = flag[2:]
        if name not in profile.knobs:
            flags = ", ".join("--" + k.replace("_", "-") for k in profile.knobs)
            raise UnknownNameError(
                f"profile {profile.name!r} has no knob {name!r}{suggest(name, profile.knobs)}; its knobs: {flags}"
            )
        if profile.knobs[name].is_categorical:
            knobs[name] = value
        else:
            try:
                knobs[name] = float(value)
            except ValueError:
                raise ConfigError(f"--{key}: {value!r} is not a number ({profile.knobs[name].unit})") from None
    return knobs


def resolve_rates(args: argparse.Namespace, extra: Sequence[str], profile_flag: str) -> tuple[Any, Any]:
    """The rates a command asks for and the fault model that goes with them.

    Rates: a profile's operating point (knobs as ``--<knob> VALUE``), a symmetric ``--ber``,
    or a ``--p01``/``--p10`` pair (where the command has them); None if none is given. The
    fault model is ``--fault-model``, else what the profile implies
    (:func:`memsim.experiment.conditions.resolve_fault_model`). ``profile_flag`` names the profile
    argument in messages (``PROFILE`` or ``--profile``).
    """
    from memsim.experiment.conditions import resolve_fault_model
    from memsim.profile import OperatingPoint

    rates, profile = _rates(args, extra, profile_flag)
    op = rates if isinstance(rates, OperatingPoint) else None
    return rates, resolve_fault_model(args.fault_model, profile, op, args.persistent_fraction)


def _rates(args: argparse.Namespace, extra: Sequence[str], profile_flag: str) -> tuple[Any, Any]:
    from memsim.profile import load_profile

    p01, p10 = getattr(args, "p01", None), getattr(args, "p10", None)
    pair = p01 is not None or p10 is not None
    direct = args.ber is not None or pair
    if args.profile is not None and direct:
        raise ConfigError(
            f"give either {profile_flag} (got {args.profile!r}) with --<knob> VALUE options, "
            "or --ber" + (" / --p01 and --p10" if hasattr(args, "p01") else "") + ", not both"
        )
    if args.ber is not None and pair:
        raise ConfigError("give either --ber or --p01 and --p10, not both")
    if args.profile is not None:
        profile = load_profile(args.profile)
        return profile.at_knobs(parse_knob_args(profile, extra), extrapolate=args.extrapolate), profile
    if extra:
        flags = [t for t in extra if t.startswith("-")]
        if flags:
            raise ConfigError(
                f"unknown option {flags[0].split('=')[0]} (knob options --<knob> VALUE need {profile_flag}); "
                f"see `memsim {args.command} --help`"
            )
        raise ConfigError(f"unexpected arguments {' '.join(extra)}")
    if args.ber is not None:
        return args.ber, None
    if pair:
        if p01 is None or p10 is None:
            raise ConfigError("give both --p01 and --p10")
        return (p01, p10), None
    return None, None


def check_limit(limit: int | None) -> int | None:
    """``--limit``: None or a positive integer."""
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be a positive integer, got {limit}")
    return limit


def load_net(spec: str) -> Any:
    """A model by path or shipped name; ``random:ARCH[:SEED]`` builds a random network (for trying things out)."""
    from memsim.bnn import BNN
    from memsim.experiment.networks import load_network

    if spec.startswith("random:"):
        parts = spec.split(":")
        try:
            seed = int(parts[2]) if len(parts) > 2 else 0
        except ValueError:
            raise ConfigError(f"{spec!r}: the seed after the architecture must be an integer") from None
        return BNN.random(parts[1], seed=seed)
    return load_network(spec)


def partition_options(p: Any) -> None:
    """The options of a partitioned memory: regions, assignments, a code, protected bits."""
    p.add_argument(
        "--partition",
        action="append",
        metavar="NAME=KNOB:VALUE[,...]",
        help="a memory region at its own point: safe=nominal, low=vdd_over_vmin:0.8,ecc:secded64, exact=ber:0 "
        "(knobs not named follow the sweep; repeat for several)",
    )
    p.add_argument(
        "--assign",
        action="append",
        metavar="PATTERN=REGION",
        help="arrays matching PATTERN live in REGION: layer0=safe, thresholds=safe, '*.weight=low' (the rest in main)",
    )
    p.add_argument("--ecc", help="a code on the main region's words: secded64, secded32, secded16 or secded8")
    p.add_argument(
        "--ecc-policy",
        choices=["leave", "zero", "count"],
        help="a detected-uncorrectable word: left as read (default), zeroed, or counted as a detected failure",
    )
    p.add_argument(
        "--protect",
        action="append",
        metavar="PATTERN=msb:K@REGION",
        help="keep the top K bits of each word of the matching arrays in REGION: thresholds=msb:1@safe",
    )
