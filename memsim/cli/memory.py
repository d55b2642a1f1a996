"""``memsim at`` (a profile at an operating point) and ``memsim memory`` (an audit of the approximate memory)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from memsim.cli._args import parse_knob_args, print_json, resolve_rates
from memsim.cli.profiles import OP_COLUMNS
from memsim.errors import ConfigError
from memsim.report.text import format_value, table

__all__ = ["register"]


def cmd_at(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from memsim.profile import load_profile

    profile = load_profile(args.profile)
    if args.vmin_v is not None:
        profile = profile.with_vmin(args.vmin_v)
    op = profile.at_knobs(parse_knob_args(profile, extra), extrapolate=args.extrapolate)
    if args.json:
        print_json(op.to_dict())
        return 0
    print(f"{op.profile} ({op.technology}) at " + ", ".join(f"{k}={format_value(v)}" for k, v in op.knobs.items()))
    columns = [*OP_COLUMNS, "write_latency_ns"]
    if op.power_ratio is not None:
        columns.insert(columns.index("leakage_mw") + 1, "power_ratio")
    width = max(len(c) for c in columns)
    for column in columns:
        print(f"  {column.ljust(width)}  {format_value(getattr(op, column))}")
    nominal = profile.at()
    if op.refresh_mw is not None and nominal.refresh_mw and op.refresh_mw != nominal.refresh_mw:
        knob = "refresh_ms" if "refresh_ms" in profile.knobs else None
        at = f" ({knob} {format_value(nominal.knobs[knob])})" if knob else ""
        print(
            f"refresh power vs the nominal point{at}: {format_value(op.refresh_mw)} mW vs "
            f"{format_value(nominal.refresh_mw)} mW ({100 * (1 - op.refresh_mw / nominal.refresh_mw):.1f} % less)"
        )
    print(
        table(
            ["mechanism", "persistence", "ber", "p01", "p10"],
            [[m.name, m.persistence, m.ber, m.p01, m.p10] for m in op.mechanisms],
        )
    )
    if op.extrapolated:
        print("note: extrapolated beyond the profile's data with its analytic models")
    if op.uncalibrated:
        print(f"warning: uncalibrated model(s) used: {', '.join(op.uncalibrated)}")
    return 0


#: Largest array ``memsim memory`` audits: 2^27 bits (the audit holds about 13 bytes per bit while it runs).
MAX_AUDIT_BITS = 2**27


def cmd_memory(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from memsim.experiment.audit import audit_reads
    from memsim.experiment.conditions import describe_fault_model

    rates, fault = resolve_rates(args, extra, "a PROFILE")
    if rates is None:
        raise ConfigError("give a PROFILE (with --<knob> VALUE options), or --ber, or --p01 and --p10")
    if args.bits > MAX_AUDIT_BITS:  # below 1: the audit's own message
        raise ConfigError(
            f"--bits must be in [1, {MAX_AUDIT_BITS:,}] (an array the audit holds in memory), got {args.bits:,}"
        )
    check = audit_reads(rates, nbits=args.bits, reads=args.reads, fault_model=fault, seed=args.seed)
    if args.json:
        print_json(check.to_dict())
        return 0
    print(
        f"{check.reads} reads of {check.nbits} random bits, fault model {describe_fault_model(fault)}, seed {args.seed}"
    )
    print(
        table(
            ["", "p01", "p10", "ber"],
            [
                ["expected", check.expected_p01, check.expected_p10, check.expected_ber],
                ["observed", check.observed_p01, check.observed_p10, check.observed_ber],
            ],
        )
    )
    if check.z_over == "none":
        print(
            "z of the observed BER: - (a measured map: the observed rate is that of the cells read, one fixed part "
            "of the chip; the expected one is the whole chip's)"
        )
    else:
        print(f"z of the observed BER: {format_value(check.z_ber)} (over {check.z_over})")
    energy = check.read_energy_pj_per_read
    print(
        f"read energy per read: {'-' if energy is None else f'{energy / 1e6:.4g} uJ'}; "
        f"time per read: {check.seconds_per_read * 1e3:.3f} ms"
    )
    return 0


def register(sub: Any) -> None:
    """Add the ``at`` and ``memory`` commands to the ``memsim`` parser."""
    p = sub.add_parser("at", help="evaluate a profile at an operating point: --<knob> VALUE ...")
    p.add_argument("profile", help="profile name or path to a .yaml file")
    p.add_argument("--extrapolate", action="store_true", help="allow knob values outside the profile's range")
    p.add_argument("--vmin-v", type=float, help="for a profile relative to Vmin: your Vmin in V (then use --vdd-v)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_at, takes_extra=True)

    from memsim.memory import available_fault_models

    p = sub.add_parser("memory", help="read random bits from an approximate memory and compare flips with the rates")
    p.add_argument("profile", nargs="?", help="profile name or .yaml path (knobs as --<knob> VALUE)")
    p.add_argument("--ber", type=float, help="symmetric bit error rate instead of a profile")
    p.add_argument("--p01", type=float, help="0->1 flip probability (with --p10)")
    p.add_argument("--p10", type=float, help="1->0 flip probability (with --p01)")
    p.add_argument("--bits", type=int, default=5820416, help="bits per read (default: the Fashion FCNN's 5,820,416)")
    p.add_argument("--reads", type=int, default=10, help="number of reads (default 10)")
    p.add_argument("--fault-model", choices=available_fault_models(), help="default: what the profile implies")
    p.add_argument("--persistent-fraction", type=float, help="share of errors from stuck cells (fault model mixed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--extrapolate", action="store_true", help="allow knob values outside the profile's range")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_memory, takes_extra=True)
