"""``memsim profiles list|show|plot|import``: the memory technology profiles."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from memsim.cli._args import print_json
from memsim.errors import ConfigError, MemsimError
from memsim.report.text import format_value, table

__all__ = ["register"]

OP_COLUMNS = (
    "ber",
    "p01",
    "p10",
    "read_energy_pj_per_bit",
    "write_energy_pj_per_bit",
    "leakage_mw",
    "refresh_mw",
    "read_latency_ns",
)


def cmd_profiles_list(args: argparse.Namespace) -> int:
    from memsim.profile import available_profiles, load_profile

    profiles = []
    for name in available_profiles():
        try:
            profiles.append(load_profile(name))
        except MemsimError as err:  # one broken file must not hide the good ones
            print(f"memsim: warning: skipped {name}: {err}", file=sys.stderr)
    if args.json:
        print_json(
            [
                {
                    "name": p.name,
                    "technology": p.technology,
                    "description": p.description,
                    "knobs": [k.to_dict() for k in p.knobs.values()],
                }
                for p in profiles
            ]
        )
        return 0

    def knob_text(p: Any) -> str:
        parts = []
        for k in p.knobs.values():
            parts.append(
                f"{k.name} in {{{', '.join(k.categories)}}}"
                if k.is_categorical
                else f"{k.name} {k.min:g}..{k.max:g} {k.unit}"
            )
        return "; ".join(parts)

    print(table(["name", "technology", "knobs"], [[p.name, p.technology, knob_text(p)] for p in profiles]))
    return 0


def _op_rows(profile: Any, knob: str) -> list[Any]:
    return [profile.at_knobs({knob: v}) for v in profile.knob_values(knob)]


def cmd_profiles_show(args: argparse.Namespace) -> int:
    from memsim.profile import load_profile

    profile = load_profile(args.name)
    sweeps = {k: _op_rows(profile, k) for k in profile.knobs}
    if args.json:
        print_json(
            {
                "name": profile.name,
                "technology": profile.technology,
                "description": profile.description,
                "notes": profile.notes,
                "knobs": [k.to_dict() for k in profile.knobs.values()],
                "citations": profile.citations,
                "provenance": profile.provenance(),
                "operating_points": {k: [op.to_dict() for op in ops] for k, ops in sweeps.items()},
            }
        )
        return 0
    print(f"{profile.name}  ({profile.technology})")
    print(profile.description)
    print()
    for name, ops in sweeps.items():
        others = ", ".join(f"{k}={format_value(v)}" for k, v in profile.nominal.items() if k != name)
        print(f"operating points over {name}" + (f" (at nominal {others})" if others else ""))
        columns = [*OP_COLUMNS, *(["power_ratio"] if any(op.power_ratio is not None for op in ops) else [])]
        rows = [[op.knobs[name], *(getattr(op, c) for c in columns)] for op in ops]
        print(table([name, *columns], rows))
        flagged = sorted({m for op in ops for m in op.uncalibrated})
        if flagged:
            print(f"  uncalibrated away from nominal: {', '.join(flagged)}")
        print()
    print(
        "mechanisms: "
        + "; ".join(f"{m.name} ({m.persistence}{'' if m.calibrated else ', uncalibrated'})" for m in profile.mechanisms)
    )
    counts: dict[str, int] = {}
    for item in profile.provenance():
        counts[item["provenance"]] = counts.get(item["provenance"], 0) + 1
    print("provenance of cited numbers: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("citations:")
    for key, cite in profile.citations.items():
        print(f"  [{key}] {cite['reference']}")
    if profile.notes:
        print(f"notes: {profile.notes}")
    if profile.fault_maps is not None:
        nested = "nested (every failing cell fails at every lower value)"
        print(f"fault maps: {profile.fault_maps.nesting_note() or nested}")
    return 0


def cmd_profiles_plot(args: argparse.Namespace) -> int:
    from memsim.profile import load_profile
    from memsim.report.plots import plot_profile

    out = plot_profile(load_profile(args.name), args.output, knob=args.knob)
    print(f"wrote {out}")
    return 0


def cmd_profiles_import_csv(args: argparse.Namespace) -> int:
    from memsim.profile import profile_from_csv

    profile = profile_from_csv(
        args.file,
        args.output,
        technology=args.technology,
        reference=args.reference,
        name=args.name,
        persistence=args.persistence,
        nominal=_nominal(args.nominal),
        citation_key=args.citation_key,
        provenance=args.provenance,
        pool=args.pool or (),
    )
    print(f"wrote {args.output}: profile {profile.name!r} ({profile.technology}), knobs {', '.join(profile.knobs)}")
    mech = profile.mechanisms[0]
    if mech.grid_knobs:
        axes = " x ".join(f"{k} ({len(a)})" for k, a in zip(mech.grid_knobs, mech.grid_axes, strict=True))
        print(f"grid: {axes} points, interpolated in log(BER) axis by axis")
    return 0


def _nominal(items: list[str] | None) -> float | dict[str, float] | None:
    """``--nominal 1.2`` (one knob) or ``--nominal refresh_ms=64 --nominal temperature_c=20``."""
    if not items:
        return None
    if len(items) == 1 and "=" not in items[0]:
        try:
            return float(items[0])
        except ValueError:
            raise ConfigError(f"--nominal: {items[0]!r} is not a number (or KNOB=VALUE)") from None
    out: dict[str, float] = {}
    for item in items:
        knob, sep, value = item.partition("=")
        try:
            out[knob.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not knob.strip():
            raise ConfigError(f"--nominal: {item!r} is not KNOB=VALUE (e.g. refresh_ms=64)")
    return out


def cmd_profiles_import_maps(args: argparse.Namespace) -> int:
    from memsim.profile import profile_from_fault_maps

    profile = profile_from_fault_maps(
        args.paths,
        args.output,
        technology=args.technology,
        reference=args.reference,
        name=args.name,
        knob=args.knob,
        voltages=args.voltages,
        persistence=args.persistence,
        citation_key=args.citation_key,
        provenance=args.provenance,
        nominal=args.nominal,
        energy=_energy_fields(args.energy),
        energy_from=args.energy_from,
        energy_vmin_v=args.energy_vmin_v,
    )
    kind = profile.fault_maps.kind if profile.fault_maps is not None else "?"
    print(
        f"wrote {args.output}: profile {profile.name!r}, {kind} maps of shape "
        f"{profile.fault_maps.shape if profile.fault_maps else '?'}"
    )
    note = None if profile.fault_maps is None else profile.fault_maps.nesting_note()
    if note:
        print(f"note: {note}")
    return 0


def _energy_fields(items: list[str] | None) -> dict[str, float] | None:
    """``--energy FIELD=VALUE`` options as a mapping (a field given twice is refused)."""
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--energy takes FIELD=VALUE (e.g. read_pj_per_bit=0.3), got {item!r}")
        if field in out:
            raise ConfigError(f"--energy {field} is given twice")
        try:
            out[field] = float(value)
        except ValueError:
            raise ConfigError(f"--energy {field}: {value!r} is not a number") from None
    return out


def register(sub: Any) -> None:
    """Add the ``profiles`` command group to the ``memsim`` parser."""
    from memsim.profile._validate import PROVENANCES
    from memsim.profile.schema import PERSISTENCES, TECHNOLOGIES

    profiles = sub.add_parser("profiles", help="list, show, plot and import memory profiles")
    psub = profiles.add_subparsers(dest="profiles_command", required=True, metavar="SUBCOMMAND")
    p = psub.add_parser("list", help="list the available profiles")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_profiles_list)
    p = psub.add_parser("show", help="show a profile's operating-point table and citations")
    p.add_argument("name", help="profile name or path to a .yaml file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_profiles_show)
    p = psub.add_parser("plot", help="plot BER (log axis) and energy per bit vs each knob")
    p.add_argument("name", help="profile name or path to a .yaml file")
    p.add_argument("-o", "--output", required=True, help="output file (.png, .pdf or .svg)")
    p.add_argument("--knob", help="plot only this knob")
    p.set_defaults(func=cmd_profiles_plot)

    imp = psub.add_parser("import", help="write a profile from measured data (CSV curve or per-cell fault maps)")
    isub = imp.add_subparsers(dest="import_kind", required=True, metavar="KIND")
    for kind, helptext in (
        ("csv", "a CSV of BER (or errors,bits) vs one or more knobs (header with units, e.g. vdd_v,ber)"),
        ("maps", "per-cell fault maps per voltage (NPZ or 0/1 text matrices)"),
    ):
        q = isub.add_parser(kind, help=helptext)
        if kind == "csv":
            q.add_argument("file", help="the CSV file")
            q.add_argument(
                "--nominal",
                action="append",
                metavar="VALUE|KNOB=VALUE",
                help="nominal knob value (a curve: default the largest), or KNOB=VALUE per knob (repeat)",
            )
            q.add_argument(
                "--pool",
                action="append",
                metavar="KNOB",
                help="pool the measurements over this knob column (repeat); e.g. a voltage that does not matter",
            )
            q.set_defaults(func=cmd_profiles_import_csv)
        else:
            q.add_argument("paths", nargs="+", help="map files or directories")
            q.add_argument("--knob", default="vdd_v", help="knob the maps are indexed by (default vdd_v)")
            q.add_argument("--voltages", type=float, nargs="+", help="where to tabulate a failure-voltage map")
            q.add_argument("--nominal", type=float, help="nominal knob value (default: the highest map's)")
            q.add_argument(
                "--energy",
                action="append",
                metavar="FIELD=VALUE",
                help="energy or latency at nominal: read_pj_per_bit, write_pj_per_bit (scaled C V^2), "
                "leakage_mw, read_ns, write_ns (repeat the option)",
            )
            q.add_argument(
                "--energy-from",
                metavar="PROFILE",
                help="take energy and latency from this profile, at the maps' voltages",
            )
            q.add_argument("--energy-vmin-v", type=float, help="Vmin in V, for an --energy-from profile relative to it")
            q.set_defaults(func=cmd_profiles_import_maps)
        q.add_argument("-o", "--output", required=True, help="profile file to write (.yaml); its stem is the name")
        q.add_argument("--technology", required=True, choices=TECHNOLOGIES)
        q.add_argument("--reference", required=True, help="citation of the measurements")
        q.add_argument("--citation-key", default="measured", help="key of that citation (e.g. chang2017)")
        q.add_argument(
            "--provenance",
            default="measured",
            choices=PROVENANCES,
            help="measured (yours, the default) or where published data come from",
        )
        q.add_argument("--name", help="profile name (default: the output file's stem)")
        q.add_argument("--persistence", choices=PERSISTENCES, default="transient" if kind == "csv" else "stuck")
