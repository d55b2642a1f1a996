"""memsim command line.

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
import json
import sys
from collections.abc import Sequence
from typing import Any

from memsim.errors import ConfigError, MemsimError, UnknownNameError, suggest

__all__ = ["main"]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0.0:
            return "0"
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_fmt(v) for v in row] for row in rows]
    numeric = [[isinstance(v, (int, float)) or v is None for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row, kinds in zip(cells, numeric, strict=True):
        lines.append(
            "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, kinds, strict=True)).rstrip()
        )
    return "\n".join(lines)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str, allow_nan=True))


OP_COLUMNS = (
    "ber",
    "p01",
    "p10",
    "read_energy_pj_per_bit",
    "write_energy_pj_per_bit",
    "leakage_mw",
    "read_latency_ns",
)


# ------------------------------------------------------------------ commands
def cmd_profiles_list(args: argparse.Namespace) -> int:
    from memsim.profile import available_profiles, load_profile

    profiles = [load_profile(name) for name in available_profiles()]
    if args.json:
        _print_json(
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

    print(_table(["name", "technology", "knobs"], [[p.name, p.technology, knob_text(p)] for p in profiles]))
    return 0


def _op_rows(profile: Any, knob: str) -> list[Any]:
    return [profile.at(**{knob: v}) for v in profile.knob_values(knob)]


def cmd_profiles_show(args: argparse.Namespace) -> int:
    from memsim.profile import load_profile

    profile = load_profile(args.name)
    sweeps = {k: _op_rows(profile, k) for k in profile.knobs}
    if args.json:
        _print_json(
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
        others = ", ".join(f"{k}={_fmt(v)}" for k, v in profile.nominal.items() if k != name)
        print(f"operating points over {name}" + (f" (at nominal {others})" if others else ""))
        rows = [[op.knobs[name], *(getattr(op, c) for c in OP_COLUMNS)] for op in ops]
        print(_table([name, *OP_COLUMNS], rows))
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
    return 0


def cmd_profiles_plot(args: argparse.Namespace) -> int:
    from memsim.plot import plot_profile
    from memsim.profile import load_profile

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
        nominal=args.nominal,
    )
    print(f"wrote {args.output}: profile {profile.name!r} ({profile.technology}), knobs {', '.join(profile.knobs)}")
    return 0


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
    )
    kind = profile.fault_maps.kind if profile.fault_maps is not None else "?"
    print(
        f"wrote {args.output}: profile {profile.name!r}, {kind} maps of shape "
        f"{profile.fault_maps.shape if profile.fault_maps else '?'}"
    )
    return 0


def _parse_knob_args(profile: Any, extra: Sequence[str]) -> dict[str, float | str]:
    """Turn ``--vdd-v 1.1 --trcd-ns=10`` into ``{"vdd_v": 1.1, "trcd_ns": 10.0}`` for this profile."""
    knobs: dict[str, float | str] = {}
    items = list(extra)
    i = 0
    while i < len(items):
        token = items[i]
        if not token.startswith("--"):
            raise ConfigError(f"unexpected argument {token!r}; knobs are given as --<knob> VALUE")
        key, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(items):
                raise ConfigError(f"--{key} needs a value")
            value = items[i + 1]
            i += 1
        i += 1
        name = key.replace("-", "_")
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


def cmd_at(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from memsim.profile import load_profile

    profile = load_profile(args.profile)
    if args.vmin_v is not None:
        profile = profile.with_vmin(args.vmin_v)
    op = profile.at(extrapolate=args.extrapolate, **_parse_knob_args(profile, extra))
    if args.json:
        _print_json(op.to_dict())
        return 0
    print(f"{op.profile} ({op.technology}) at " + ", ".join(f"{k}={_fmt(v)}" for k, v in op.knobs.items()))
    width = max(len(c) for c in OP_COLUMNS)
    for column in (*OP_COLUMNS, "write_latency_ns"):
        print(f"  {column.ljust(width)}  {_fmt(getattr(op, column))}")
    print(
        _table(
            ["mechanism", "persistence", "ber", "p01", "p10"],
            [[m.name, m.persistence, m.ber, m.p01, m.p10] for m in op.mechanisms],
        )
    )
    if op.extrapolated:
        print("note: extrapolated beyond the profile's data with its analytic models")
    if op.uncalibrated:
        print(f"warning: uncalibrated model(s) used: {', '.join(op.uncalibrated)}")
    return 0


def cmd_memory(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from memsim.experiment.audit import audit_reads
    from memsim.profile import load_profile

    direct = args.ber is not None or args.p01 is not None or args.p10 is not None
    if args.profile is not None and direct:
        raise ConfigError(
            f"give either a PROFILE (got {args.profile!r}) with --<knob> VALUE options, "
            "or --ber / --p01 and --p10, not both"
        )
    if args.ber is not None and (args.p01 is not None or args.p10 is not None):
        raise ConfigError("give either --ber or --p01 and --p10, not both")
    if args.profile is None and not direct:
        raise ConfigError("give a PROFILE (with --<knob> VALUE options), or --ber, or --p01 and --p10")
    rates: Any
    if args.profile is not None:
        profile = load_profile(args.profile)
        rates = profile.at(extrapolate=args.extrapolate, **_parse_knob_args(profile, extra))
    elif extra:
        raise ConfigError(f"unexpected arguments {' '.join(extra)}: knob options need a PROFILE")
    elif args.ber is not None:
        rates = args.ber
    else:
        if args.p01 is None or args.p10 is None:
            raise ConfigError("give both --p01 and --p10")
        rates = (args.p01, args.p10)
    options = {} if args.persistent_fraction is None else {"persistent_fraction": args.persistent_fraction}
    check = audit_reads(
        rates, nbits=args.bits, reads=args.reads, fault_model=args.fault_model, seed=args.seed, **options
    )
    if args.json:
        _print_json(check.to_dict())
        return 0
    print(f"{check.reads} reads of {check.nbits} random bits, fault model {check.fault_model}, seed {args.seed}")
    print(
        _table(
            ["", "p01", "p10", "ber"],
            [
                ["expected", check.expected_p01, check.expected_p10, check.expected_ber],
                ["observed", check.observed_p01, check.observed_p10, check.observed_ber],
            ],
        )
    )
    print(f"z of the observed BER: {_fmt(check.z_ber)}")
    energy = check.read_energy_pj_per_read
    print(
        f"read energy per read: {'-' if energy is None else f'{energy / 1e6:.4g} uJ'}; "
        f"time per read: {check.seconds_per_read * 1e3:.3f} ms"
    )
    return 0


def _load_net(spec: str) -> Any:
    """A model by path or shipped name; ``random:ARCH[:SEED]`` builds a random network (for trying things out)."""
    from memsim.bnn import BNN, load_model

    if spec.startswith("random:"):
        parts = spec.split(":")
        try:
            seed = int(parts[2]) if len(parts) > 2 else 0
        except ValueError:
            raise ConfigError(f"{spec!r}: the seed after the architecture must be an integer") from None
        return BNN.random(parts[1], seed=seed)
    return load_model(spec)


def cmd_margins(args: argparse.Namespace) -> int:
    from memsim.bnn.margins import margin_report
    from memsim.datasets import load_dataset

    net = _load_net(args.model)
    images, labels = load_dataset(args.dataset, args.split)
    if args.limit is not None:
        if args.limit < 1:
            raise ConfigError(f"--limit must be a positive integer, got {args.limit}")
        images, labels = images[: args.limit], labels[: args.limit]
    report = margin_report(net, images, labels, importance=not args.no_importance)
    if args.json:
        _print_json(report.to_dict())
        return 0
    data = report.to_dict()
    print(f"{net!r} on {data['n_images']} images of {args.dataset}/{args.split}: clean accuracy {data['accuracy']:.4f}")
    rows = []
    for item in [*data["hidden_layers"], {**data["output"], "layer": len(net.layers) - 1, "kind": "output"}]:
        pct = item["margin_percentiles"]
        rows.append([item["layer"], item["kind"], item["count"], item["margin_mean"], pct[5], pct[50], pct[95],
                     item["tolerated_mean"], item["fraction_tolerating_none"]])  # fmt: skip
    print("neuron margins T = |h - s| (hidden, Eq. 3) and output margins m (Eq. 4); tolerated flips by Corollary 1 / 2")
    print(_table(["layer", "kind", "count", "mean", "p5", "median", "p95", "tolerated_mean", "frac_none"], rows))
    if data["importance"]:
        print("\ninter-neuron importance (mean drop of the decision margin when one neuron is inverted)")
        rows = [[d["layer"], d["mean"], d["variance"], d["min"], d["max"]] for d in data["importance"]]
        print(_table(["layer", "mean", "variance", "min", "max"], rows))
    return 0


def cmd_evaluate(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from memsim.datasets import load_dataset
    from memsim.experiment.evaluate import evaluate
    from memsim.profile import load_profile

    net = _load_net(args.model)
    if args.profile is not None and args.ber is not None:
        raise ConfigError("give either --profile (with --<knob> VALUE options) or --ber, not both")
    if args.profile is not None:
        profile = load_profile(args.profile)
        rates: Any = profile.at(extrapolate=args.extrapolate, **_parse_knob_args(profile, extra))
    elif extra:
        raise ConfigError(f"unexpected arguments {' '.join(extra)}: knob options need --profile")
    else:
        rates = 0.0 if args.ber is None else args.ber
    images, labels = load_dataset(args.dataset or net.metadata.get("dataset", "fashion-mnist-demo"), args.split)
    if args.limit is not None:
        if args.limit < 1:
            raise ConfigError(f"--limit must be a positive integer, got {args.limit}")
        images, labels = images[: args.limit], labels[: args.limit]
    options = {} if args.persistent_fraction is None else {"persistent_fraction": args.persistent_fraction}
    result = evaluate(net, images, labels, rates, args.fault_model, args.granularity, args.seed, **options)
    if args.json:
        _print_json(result.to_dict())
        return 0
    print(f"{net!r}, {result.n_images} images, {result.fault_model} faults at BER {_fmt(result.ber)} "
          f"({result.granularity}, seed {result.seed})")  # fmt: skip
    print(f"accuracy {result.accuracy:.4f} (95 % CI {result.ci_low:.4f}-{result.ci_high:.4f})")
    if result.read_energy_pj_per_image is not None:
        energy = f"{result.read_energy_pj_per_image / 1e6:.4g} uJ"
    elif args.profile is None:
        energy = "n/a (a bare --ber has no energy model; give --profile)"
    else:
        energy = f"n/a ({args.profile} publishes no read energy)"
    print(f"weight reads: {result.reads}, {result.bits_read} bits, {result.bits_flipped} flipped; "
          f"{result.seconds:.2f} s")  # fmt: skip
    print(f"read energy per image: {energy}")
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from memsim.datasets import fetch

    folder = fetch(args.name, root=args.root)
    print(f"{args.name}: all files present with the published sha256 in {folder}")
    return 0


def cmd_data_verify(args: argparse.Namespace) -> int:
    from memsim.datasets import DATASETS, verify

    result = verify(args.name, root=args.root)
    if args.json:
        _print_json(result)
    else:
        for f in DATASETS[args.name].files:
            print(f"  {f}: {'ok' if result.get(f) else 'missing' if f not in result else 'CHECKSUM MISMATCH'}")
    if not all(result.values()):
        bad = [f for f, ok in result.items() if not ok]
        raise ConfigError(
            f"{args.name}: sha256 mismatch in {', '.join(bad)}; delete them and run `memsim data fetch {args.name}`"
        )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    try:
        from memsim.train import TrainConfig, train
    except ImportError as err:
        raise ConfigError(str(err)) from None
    from dataclasses import fields

    # every TrainConfig field has a same-named option, so a new option cannot be forgotten here
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    result = train(cfg, args.out, resume=args.resume, log=lambda line: print(line, flush=True))
    print(f"clean test accuracy {result.test_accuracy:.4f}, validation {result.val_accuracy:.4f}, "
          f"best epoch {result.best_epoch}")  # fmt: skip
    return 0


def _demo_engine(sram: Any) -> None:
    """Layer 3 of the demo: a BNN reading its weights from the approximate SRAM, fresh flips per image."""
    import time

    import numpy as np

    from memsim.bnn import BNN, available_models, load_model
    from memsim.bnn.margins import output_margins
    from memsim.datasets import load_dataset
    from memsim.memory import ApproximateMemory

    images, labels = load_dataset("fashion-mnist-demo")
    if "fcnn_cel_ber0" in available_models():
        net, what = load_model("fcnn_cel_ber0"), "shipped model fcnn_cel_ber0 (trained, CEL)"
    else:
        net, what = (
            BNN.random("fashion-fcnn", seed=0),
            "a RANDOM fashion-fcnn (no trained model found: chance accuracy)",
        )
    print(f"BNN engine (layer 3): {what}, {net.n_weight_bits} weight bits,")
    print(f"on {len(labels)} Fashion-MNIST test images; every image reads every weight afresh (per_sample):")
    mem = ApproximateMemory(fault_model="transient", seed=0)
    net.store_weights(mem)
    mem.set_ber(0.01)
    net.predict(images[:8], memory=mem, seed=0)  # compile the kernels before timing (first run only)
    rows = []
    for v in (1.0, 0.917, 0.875, 0.833, 0.792):
        op = sram.at(vdd_over_vmin=v)
        mem.set_operating_point(op)
        mem.reset_counters()
        start = time.perf_counter()
        predicted = net.predict(images, memory=mem, seed=1)
        seconds = time.perf_counter() - start
        acc = float(np.mean(predicted == labels))
        energy = mem.totals.read_energy_pj
        rows.append([v, op.ber, acc, None if energy is None else energy / len(labels) / 1e6, seconds])
    print(_table(["vdd_over_vmin", "ber", "accuracy", "read_energy_uj_per_image", "seconds"], rows))
    m = output_margins(net, images)
    print(f"output margin m (clean): median {int(np.median(m.margin))}, so the output layer tolerates "
          f"{int(np.median(m.tolerated))} flips for the median image (Corollary 2)")  # fmt: skip


def cmd_demo(args: argparse.Namespace) -> int:
    from memsim.profile import available_profiles, load_profile

    print("memsim demo: what the pipeline does so far (layers 1-3: profiles, approximate memory, BNN engine)\n")
    names = available_profiles()
    print(f"{len(names)} profiles: {', '.join(names)}\n")
    sram = load_profile("sram_14nm_chandramoorthy2019")
    print("SRAM voltage scaling (14 nm, Stutz et al. MLSys 2021 Fig. 1):")
    nominal = sram.at()
    rows = []
    for v in sram.knob_values("vdd_over_vmin"):
        op = sram.at(vdd_over_vmin=v)
        assert op.read_energy_pj_per_bit is not None and nominal.read_energy_pj_per_bit is not None
        saving = 1.0 - op.read_energy_pj_per_bit / nominal.read_energy_pj_per_bit
        rows.append([v, op.ber, op.read_energy_pj_per_bit, f"{100 * saving:.1f} %"])
    print(_table(["vdd_over_vmin", "ber", "read_energy_pj_per_bit", "energy_saved"], rows))
    print()
    print("One operating point per technology:")
    rows = []
    for name in names:
        p = load_profile(name)
        knob = next(iter(p.knobs.values()))
        value = knob.categories[-1] if knob.is_categorical else knob.min
        op = p.at(**{knob.name: value})
        rows.append([name, f"{knob.name}={_fmt(value)}", op.ber, op.read_energy_pj_per_bit, op.read_latency_ns])
    print(_table(["profile", "knob", "ber", "read_energy_pj_per_bit", "read_latency_ns"], rows))
    print()
    from memsim.experiment.audit import audit_reads

    nbits = 784 * 2048 + 2048 * 2048 + 2048 * 10
    print(f"Approximate memory (layer 2): the Fashion FCNN's {nbits} weight bits in that SRAM, 5 reads each,")
    print("fresh transient flips on every read (seed 0):")
    rows = []
    for v in (0.917, 0.875, 0.833):
        check = audit_reads(sram.at(vdd_over_vmin=v), nbits=nbits, reads=5, seed=0)
        energy = check.read_energy_pj_per_read
        rows.append(
            [
                v,
                check.expected_ber,
                check.observed_ber,
                check.z_ber,
                None if energy is None else energy / 1e6,
                check.seconds_per_read * 1e3,
            ]
        )
    print(_table(["vdd_over_vmin", "ber", "observed_ber", "z", "read_energy_uj", "ms_per_read"], rows))
    print()
    _demo_engine(sram)
    print("\nNext layers (sweeps with energy per inference, reports) arrive with the next issues.")
    print("Try: memsim profiles show dram_ddr3l_chang2017_vendorb")
    print("     memsim at dram_ddr3l_chang2017_vendorb --vdd-v 1.05")
    print("     memsim memory sram_14nm_chandramoorthy2019 --vdd-over-vmin 0.85 --fault-model mixed \\")
    print("         --persistent-fraction 0.3")
    return 0


# ------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``memsim`` command."""
    from memsim import __version__
    from memsim.profile.profile import PERSISTENCES, TECHNOLOGIES

    parser = argparse.ArgumentParser(
        prog="memsim", description="Approximate-memory simulator for binarized neural networks."
    )
    parser.add_argument("--version", action="version", version=f"memsim {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
        ("csv", "a CSV of BER vs a knob (header with units, e.g. vdd_v,ber)"),
        ("maps", "per-cell fault maps per voltage (NPZ or 0/1 text matrices)"),
    ):
        q = isub.add_parser(kind, help=helptext)
        if kind == "csv":
            q.add_argument("file", help="the CSV file")
            q.add_argument("--nominal", type=float, help="nominal knob value (default: the largest)")
            q.set_defaults(func=cmd_profiles_import_csv)
        else:
            q.add_argument("paths", nargs="+", help="map files or directories")
            q.add_argument("--knob", default="vdd_v", help="knob the maps are indexed by (default vdd_v)")
            q.add_argument("--voltages", type=float, nargs="+", help="where to tabulate a failure-voltage map")
            q.set_defaults(func=cmd_profiles_import_maps)
        q.add_argument("-o", "--output", required=True, help="profile file to write (.yaml); its stem is the name")
        q.add_argument("--technology", required=True, choices=TECHNOLOGIES)
        q.add_argument("--reference", required=True, help="citation of the measurements")
        q.add_argument("--name", help="profile name (default: the output file's stem)")
        q.add_argument("--persistence", choices=PERSISTENCES, default="per_read" if kind == "csv" else "stuck")

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
    p.add_argument("--fault-model", default="transient", choices=available_fault_models())
    p.add_argument("--persistent-fraction", type=float, help="share of errors from stuck cells (fault model mixed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--extrapolate", action="store_true", help="allow knob values outside the profile's range")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_memory, takes_extra=True)

    from memsim.datasets import DATASETS, available_datasets

    p = sub.add_parser("margins", help="margin-based bit error tolerance metrics of a model on a data set")
    p.add_argument("model", help="model file, shipped model name, or random:ARCH[:SEED]")
    p.add_argument("--dataset", default="fashion-mnist-demo", choices=available_datasets())
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--no-importance", action="store_true", help="skip the inter-neuron importance (slowest part)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_margins)

    from memsim.memory.approximate import ReadGranularity

    p = sub.add_parser("evaluate", help="accuracy of a model with its weights in approximate memory")
    p.add_argument("model", help="model file, shipped model name, or random:ARCH[:SEED]")
    p.add_argument("--profile", help="profile name or .yaml path (knobs as --<knob> VALUE)")
    p.add_argument("--ber", type=float, help="symmetric bit error rate instead of a profile")
    p.add_argument("--fault-model", default="transient", choices=available_fault_models())
    p.add_argument("--persistent-fraction", type=float, help="share of errors from stuck cells (fault model mixed)")
    p.add_argument("--granularity", default="per_sample", choices=[g.value for g in ReadGranularity])
    p.add_argument("--dataset", choices=available_datasets(), help="default: the model's data set")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extrapolate", action="store_true", help="allow knob values outside the profile's range")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate, takes_extra=True)

    data = sub.add_parser("data", help="fetch and verify data sets")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    p = dsub.add_parser("fetch", help="download a data set, check sha256, write atomically, resume")
    p.add_argument("name", choices=list(DATASETS))
    p.add_argument("--root", help="directory to fetch into (default: $MEMSIM_DATA or the user cache)")
    p.set_defaults(func=cmd_data_fetch)
    p = dsub.add_parser("verify", help="check the sha256 of a data set's files")
    p.add_argument("name", choices=list(DATASETS))
    p.add_argument("--root", help="directory holding the data set's folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_data_verify)

    from memsim.bnn.network import ARCHITECTURES

    p = sub.add_parser("train", help="train a BNN with torch (CEL or MHL, optional flip injection) and export it")
    p.add_argument("--arch", required=True, choices=list(ARCHITECTURES))
    p.add_argument("--loss", default="cel", choices=["cel", "mhl"])
    p.add_argument("--b", type=float, help="margin parameter of the modified hinge loss (mhl)")
    p.add_argument("--train-ber", type=float, default=0.0, help="weight-sign-flip probability while training [0, 0.5]")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-threshold", type=int, default=40, help="pixel > threshold binarizes to +1")
    p.add_argument("--dataset", choices=list(DATASETS), help="default: the architecture's data set")
    p.add_argument("--train-split", default="train", help="training split (cifar10: train or train1)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3, help="initial Adam learning rate")
    p.add_argument(
        "--lr-halve-every", type=int, default=25, help="halve the learning rate every N epochs (paper: 25 of 200)"
    )
    p.add_argument("--augment-shift", type=int, default=0, help="translate training images by up to N pixels (0 = off)")
    p.add_argument(
        "--recalibrate-bn", action="store_true", help="re-estimate batch-norm statistics on the final weights"
    )
    p.add_argument(
        "--init-from", metavar="CKPT", help="fine-tune: start from the best epoch of this training checkpoint"
    )
    p.add_argument("--val-size", type=int, default=5000, help="validation images held out of the training split")
    p.add_argument("--limit", type=int, help="train on the first N shuffled images only (quick runs, tests)")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--out", required=True, help="model file to write (.npz); checkpoint beside it")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("demo", help="a tour of what memsim does, on shipped data")
    p.set_defaults(func=cmd_demo)
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
    except (MemsimError, OSError) as err:
        if args.debug:
            raise
        print(f"memsim: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("memsim: interrupted", file=sys.stderr)
        return 130
