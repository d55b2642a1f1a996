"""``memsim sweep``, ``search``, ``report`` and ``plot``: operating-point sweeps and their trade-offs."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memsim.cli._args import knob_options, partition_options, print_json
from memsim.errors import ConfigError
from memsim.report.text import to_json

__all__ = ["parse_values", "register"]


#: Most points one START:STOP:NUM may ask for (a sweep's cells are bounded again by the spec).
MAX_POINTS = 10_000


def parse_values(text: str, label: str) -> list[Any]:
    """A knob's values: one value, a comma list, or ``START:STOP:NUM`` (NUM points, both ends included).

    Numbers become floats; anything else stays a string (a categorical knob's category).
    """

    def number(item: str) -> float | str:
        try:
            return float(item)
        except ValueError:
            return item.strip()

    text = text.strip()
    if text.count(":") == 2:
        start, stop, num = text.split(":")
        try:
            a, b, n = float(start), float(stop), int(num)
        except ValueError:
            raise ConfigError(f"{label}: {text!r} is not START:STOP:NUM (two numbers and a count)") from None
        if not 1 <= n <= MAX_POINTS:
            raise ConfigError(f"{label}: {text!r} asks for {n} points; NUM must be in [1, {MAX_POINTS}]")
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ConfigError(f"{label}: {text!r}: START and STOP must be finite numbers")
        import numpy as np  # here, not at import: the command's Ctrl-C handling covers loading it

        return [float(f"{v:.12g}") for v in np.linspace(a, b, n)]
    values = [number(v) for v in text.split(",") if v.strip()]
    if not values:
        raise ConfigError(f"{label}: no values in {text!r}")
    return values


def _spec_from_args(args: argparse.Namespace, extra: Sequence[str]) -> Any:
    from memsim.experiment.sweep import SweepSpec

    data: dict[str, Any] = {}
    if args.config is not None:
        import yaml

        path = Path(args.config)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: cannot read the sweep config: {err}") from None
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ConfigError(f"{path}: {where}not valid YAML ({problem})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a sweep config is a mapping of options")
    given = data.get("knobs")
    knobs: dict[str, list[Any]] = dict(given) if isinstance(given, dict) else {}
    for flag, name, value in knob_options(extra, "VALUES (one value, a comma list, or START:STOP:NUM)"):
        if given is not None and not isinstance(given, dict):
            break  # the config's knobs are malformed: SweepSpec names the problem
        knobs[name] = parse_values(value, flag)
    cli = {
        "models": args.model,
        "profile": args.profile,
        "bers": None if args.ber is None else parse_values(args.ber, "--ber"),
        "trials": args.trials,
        "seed": args.seed,
        "fault_model": args.fault_model,
        "persistent_fraction": args.persistent_fraction,
        "granularity": args.granularity,
        "batch_size": args.batch_size,
        "in_memory": args.in_memory,
        "threshold_dtype": args.threshold_dtype,
        "dataset": args.dataset,
        "limit": args.limit,
        "banks": args.banks,
        "burst_bits": args.burst_bits,
        "access_ns": args.access_ns,
        "ops_per_ns": args.ops_per_ns,
        "compute_pj_per_op": args.compute_pj_per_op,
        "extrapolate": args.extrapolate or None,
        "partitions": args.partition,
        "assign": args.assign,
        "ecc": args.ecc,
        "ecc_policy": args.ecc_policy,
        "protect": args.protect,
    }
    data.update({k: v for k, v in cli.items() if v is not None})
    if args.no_overlap:
        data["overlap"] = False
    if knobs or isinstance(given, dict):
        data["knobs"] = knobs
    if "models" not in data:
        raise ConfigError("give at least one --model (a shipped model name or a model file)")
    return SweepSpec.from_dict(data, args.config or "command line")


def cmd_sweep(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from memsim.experiment.sweep import cells_of, run_sweep

    spec = _spec_from_args(args, extra)
    if args.dump_config:
        import yaml

        print(yaml.safe_dump(spec.to_dict(), sort_keys=False), end="")
        return 0
    if args.out is None or not str(args.out).strip():
        raise ConfigError("give --out DIR for the results (sweep.csv, sweep.json); an empty name is not a folder")
    cells = cells_of(spec)
    if args.images_per_task is not None and args.scheduler is None:
        raise ConfigError("--images-per-task splits cells between Dask workers; give --scheduler too")
    if args.images_per_task is not None and args.images_per_task < 1:
        raise ConfigError(f"--images-per-task must be a positive number of test images, got {args.images_per_task}")
    print(f"{len(cells)} cells x {spec.trials} trials -> {args.out}/sweep.csv", flush=True)
    if args.scheduler is None:
        rows = run_sweep(spec, args.out, resume=args.resume, workers=args.workers, progress=not args.quiet)
    else:
        from memsim.experiment.dist import connect, disconnect

        client, cluster = connect(args.scheduler)
        try:
            workers = len(client.scheduler_info()["workers"])
            print(f"on Dask at {client.scheduler.address}: {workers} workers", flush=True)
            rows = run_sweep(
                spec,
                args.out,
                resume=args.resume,
                progress=not args.quiet,
                client=client,
                images_per_task=args.images_per_task,
            )
        finally:
            disconnect(client, cluster)
    print(f"{len(rows)} rows in {args.out}/sweep.csv; next: memsim report {args.out}")
    return 0


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1], got {text!r}")
    return value


def cmd_report(args: argparse.Namespace) -> int:
    from memsim.report.tradeoff import TradeoffReport, chip_yield

    report = TradeoffReport.from_dir(args.dir)
    options = {
        "max_accuracy_drop": args.max_accuracy_drop,
        "conservative": args.conservative,
        "min_yield": args.min_yield,
    }
    if args.format == "markdown":
        text = report.to_markdown(**options)
    elif args.format == "csv":
        text = report.to_csv()
    elif args.format == "json":
        text = to_json(
            [
                {
                    "model": c.model,
                    "nominal": dict(c.nominal),
                    "chosen": None if c.chosen is None else dict(c.chosen),
                    "saved": c.saved,
                    "energy": c.energy_key,
                    "min_yield": c.min_yield,
                    "reference": c.reference,
                    "yield": None
                    if c.chosen is None or (y := chip_yield(c.nominal, c.chosen, c.max_accuracy_drop)) is None
                    else {"good": y.good, "chips": y.chips, "low": y.low, "high": y.high, "lower_bound": y.lower_bound},
                }
                for c in report.choices(**options)
            ]
        )
    else:
        text = report.to_text(**options)
    if args.output:
        from memsim.fileio import write_text_atomic

        write_text_atomic(Path(args.output), text if text.endswith("\n") else text + "\n")
        print(f"wrote {args.output}")
    else:
        print(text.rstrip("\n"))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from memsim.experiment.sweep import read_rows
    from memsim.report import plots

    rows = read_rows(args.dir)
    if args.kind == "accuracy-ber":
        out = plots.plot_accuracy_over_ber(rows, args.output)
    elif args.kind == "energy-accuracy":
        out = plots.plot_energy_vs_accuracy(
            rows, args.output, args.max_accuracy_drop, args.conservative, args.min_yield
        )
    elif args.kind == "yield":
        out = plots.plot_yield(rows, args.output, args.max_accuracy_drop)
    else:
        out = plots.plot_latency_vs_accuracy(rows, args.output)
    print(f"wrote {out}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from memsim.experiment.search import search
    from memsim.report.text import format_value, table

    options = {
        k: v for k, v in {"seed": args.seed, "dataset": args.dataset, "limit": args.limit}.items() if v is not None
    }
    result = search(
        args.model,
        args.profile,
        args.knob,
        args.max_accuracy_drop,
        args.trials,
        args.max_trials,
        args.tolerance,
        **options,
    )
    if args.json:
        print_json(
            {
                "knob": result.knob,
                "chosen": result.chosen,
                "nominal": result.nominal,
                "evaluations": result.evaluations,
                "images_evaluated": result.images_evaluated,
            }
        )
        return 0
    knob = result.knob
    rows = []
    for e in result.evaluations:
        saved_text = None if e["energy_saved"] is None else f"{100 * e['energy_saved']:.1f} %"
        interval = f"{e['ci95_low']:.4f}-{e['ci95_high']:.4f}"
        rows.append(
            [e[knob], e["ber"], e["trials"], e["accuracy"], interval, saved_text, "yes" if e["accepted"] else "no"]
        )
    print(table([knob, "ber", "trials", "accuracy", "ci95", "energy_saved", "within_drop"], rows))
    c, n = result.chosen, result.nominal
    saved = c["energy_saved"]
    print(
        f"\n{args.model} on {args.profile}: {knob} = {format_value(c[knob])} keeps accuracy {c['accuracy']:.4f} "
        f"({c['ci95_low']:.4f}-{c['ci95_high']:.4f}) within {100 * args.max_accuracy_drop:g} points of "
        f"{n['accuracy']:.4f} at nominal"
        + ("" if saved is None else f", saving {100 * saved:.1f} % of the inference energy")
        + f"; {len(result.evaluations)} probes, {result.images_evaluated} inferences"
    )
    if c["uncalibrated"]:
        print(f"warning: the BER there comes from an uncalibrated model ({c['uncalibrated']}): not from measurements")
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    from memsim.experiment.optimize import optimize

    regions = None
    if args.region:
        regions = {}
        for text in args.region:
            name, sep, pattern = text.partition("=")
            if not sep or not name.strip() or not pattern.strip():
                raise ConfigError(
                    f"--region {text!r}: expected NAME=PATTERN, e.g. first=layer0 or thresholds='*.threshold'"
                )
            regions[name.strip()] = pattern.strip()
    codes = (
        [] if args.codes in (None, "", "none") else [c.strip() for c in args.codes.split(",") if c.strip() != "none"]
    )
    values = None if args.values is None else [float(v) for v in parse_values(args.values, "--values")]
    if args.out is not None and Path(args.out).suffix.lower() != ".json":
        raise ConfigError(f"--out {args.out}: the result is JSON; name the file .json")

    def show(step: Any) -> None:
        if not args.quiet and not args.json:
            mark = "ok " if step.acceptable else "no "
            print(f"  {step.stage:<11} {mark} drop {100 * step.drop:+.2f} (bound {100 * step.drop_bound:+.2f}) "
                  f"saved {'-' if step.saved is None else f'{100 * step.saved:.1f} %':>7}  "
                  f"{' '.join(f'{r}={o.label()}' for r, o in step.assignment.items())}", flush=True)  # fmt: skip

    result = optimize(
        args.model, args.profile, args.knob, values, regions, codes, args.max_accuracy_drop, args.confidence,
        args.trials, args.confirm_trials, None if args.limit == 0 else args.limit, args.seed or 0, args.fault_model,
        args.in_memory, args.dataset, show,
    )  # fmt: skip
    if args.out is not None:
        import json

        from memsim.fileio import write_text_atomic

        write_text_atomic(Path(args.out), json.dumps(result.to_dict(), indent=2) + "\n")
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.to_text())
    return 0


def register(sub: Any) -> None:
    """Add the ``sweep``, ``search``, ``report`` and ``plot`` commands to the ``memsim`` parser."""
    from memsim.datasets import available_datasets
    from memsim.memory import available_fault_models
    from memsim.memory.granularity import ReadGranularity

    p = sub.add_parser(
        "sweep",
        help="accuracy, energy and latency over operating points: --model M --profile P --<knob> VALUES --out DIR",
    )
    p.add_argument("--model", action="append", help="shipped model name or model file (repeat for several)")
    p.add_argument("--profile", help="profile name or .yaml path; knob values as --<knob> VALUES")
    p.add_argument("--ber", help="bit error rates instead of a profile: a comma list or START:STOP:NUM")
    p.add_argument("--trials", type=int, help="fresh memories per cell (default 1)")
    p.add_argument("--seed", type=int, help="the sweep's seed (default 0)")
    p.add_argument("--fault-model", choices=available_fault_models(), help="default: what the profile implies")
    p.add_argument("--persistent-fraction", type=float, help="share of errors from stuck cells (fault model mixed)")
    p.add_argument("--granularity", choices=[g.value for g in ReadGranularity])
    p.add_argument("--batch-size", type=int, help="images per read with --granularity per_batch (default 256)")
    p.add_argument(
        "--in-memory",
        metavar="PARTS",
        help="what the approximate memory holds: weights (default), thresholds, or weights,thresholds "
        "(the integer thresholds as words whose every bit can flip)",
    )
    p.add_argument("--threshold-dtype", choices=["int16", "int32"], help="word of a stored threshold (default int16)")
    p.add_argument(
        "--dataset",
        metavar="NAME|FILE.npz",
        help=f"{', '.join(available_datasets())} or a .npz of images and labels (default: the models' data set)",
    )
    p.add_argument("--limit", type=int, help="use only the first N test images")
    p.add_argument("--banks", type=int, help="memory banks of the timing model (default 1)")
    p.add_argument("--burst-bits", type=int, help="bits per memory request (default 512)")
    p.add_argument(
        "--access-ns", type=float, help="time a request holds its bank (default: the profile's read latency)"
    )
    p.add_argument("--ops-per-ns", type=float, help="XNOR-popcount bit operations per ns (default 1024)")
    p.add_argument("--no-overlap", action="store_true", help="no double buffering of weight fetch and compute")
    p.add_argument(
        "--compute-pj-per-op",
        type=float,
        help="energy per operation in pJ (default: the model's own: 0.03 per XNOR-popcount bit op of a BNN; "
        "an m-bit MAC of a torch network, memsim.memory.energy.mac_pj)",
    )
    p.add_argument("--extrapolate", action="store_true", help="allow knob values outside the profile's range")
    partition_options(p)
    p.add_argument("--config", help="a YAML file of sweep options (command-line options override it)")
    p.add_argument("--dump-config", action="store_true", help="print the expanded config as YAML and exit")
    p.add_argument("--out", help="result directory (sweep.csv, sweep.json)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out")
    p.add_argument("--workers", type=int, default=1, help="worker processes (at most the CPU count)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the cells on Dask: tcp://HOST:8786 (an existing cluster) or local:N (N local worker "
        "processes); needs memsim[dist]",
    )
    p.add_argument(
        "--images-per-task",
        type=int,
        metavar="N",
        help="with --scheduler: split each cell into tasks of N test images (same rows)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep, takes_extra=True)

    p = sub.add_parser("search", help="the lowest voltage (or shortest timing) within an accuracy drop, by bisection")
    p.add_argument("--model", required=True, help="shipped model name or model file")
    p.add_argument("--profile", required=True, help="profile name or .yaml path")
    p.add_argument("--knob", required=True, help="the numeric knob to search, e.g. vdd_over_vmin or trcd_ns")
    p.add_argument("--max-accuracy-drop", type=float, default=0.01, help="allowed accuracy drop (0.01 = 1 point)")
    p.add_argument("--trials", type=int, default=2, help="trials per probe (default 2)")
    p.add_argument("--max-trials", type=int, default=8, help="trials of a probe whose decision is close (default 8)")
    p.add_argument(
        "--tolerance", type=float, help="stop when the bracket is narrower (knob units; default 1 %% of range)"
    )
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--dataset",
        metavar="NAME|FILE.npz",
        help=f"{', '.join(available_datasets())} or a .npz of images and labels (default: the model's data set)",
    )
    p.add_argument("--limit", type=int, help="use only the first N test images")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser(
        "optimize",
        help="the cheapest operating point and code per memory region (layer, thresholds) within an accuracy drop",
    )
    p.add_argument("--model", required=True, help="shipped model name or model file")
    p.add_argument("--profile", required=True, help="profile name or .yaml path")
    p.add_argument("--knob", help="the numeric knob to set per region (default: the profile's first)")
    p.add_argument("--values", help="knob values to choose from (default: the profile's data points)")
    p.add_argument(
        "--region",
        action="append",
        metavar="NAME=PATTERN",
        help="a region and the arrays it holds (default: one per layer, plus thresholds with --in-memory "
        "weights,thresholds); arrays in no region stay at the nominal point",
    )
    p.add_argument("--codes", default="secded64", help="codes a region may use, comma list, or none (default secded64)")
    p.add_argument("--max-accuracy-drop", type=float, default=0.01, help="allowed accuracy drop (0.01 = 1 point)")
    p.add_argument("--confidence", type=float, default=0.95, help="of the drop's one-sided bound (default 0.95)")
    p.add_argument("--trials", type=int, default=2, help="trials per search evaluation (default 2)")
    p.add_argument("--confirm-trials", type=int, default=6, help="trials of the confirmation runs (default 6)")
    p.add_argument("--limit", type=int, default=2000, help="test images (default 2000; 0 for all)")
    p.add_argument("--seed", type=int)
    p.add_argument("--fault-model", choices=available_fault_models(), help="default: what the profile implies")
    p.add_argument("--in-memory", default="weights", help="weights (default) or weights,thresholds")
    p.add_argument(
        "--dataset",
        metavar="NAME|FILE.npz",
        help=f"{', '.join(available_datasets())} or a .npz of images and labels (default: the model's data set)",
    )
    p.add_argument("--out", help="also write the result (every evaluation) to this .json file")
    p.add_argument("--quiet", action="store_true", help="no line per evaluation")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_optimize)

    def choice_options(q: Any) -> None:
        q.add_argument("--max-accuracy-drop", type=float, default=0.01, help="allowed accuracy drop (0.01 = 1 point)")
        q.add_argument(
            "--conservative", action="store_true", help="require the one-sided 95 %% bound of the drop within it"
        )
        q.add_argument(
            "--min-yield",
            type=_fraction,
            metavar="Y",
            help="choose the lowest-energy point where at least this fraction of chips stays within the drop "
            "(one-sided 95 %% Clopper-Pearson over chips; sweeps with stuck cells and 2+ trials)",
        )

    p = sub.add_parser("report", help="trade-off table, Pareto front and chosen operating point of a sweep")
    p.add_argument("dir", help="a sweep's result directory")
    choice_options(p)
    p.add_argument("--format", choices=["text", "markdown", "csv", "json"], default="text")
    p.add_argument("-o", "--output", help="write to this file instead of printing")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plot", help="plots of a sweep: accuracy over BER, energy vs accuracy, latency vs accuracy")
    p.add_argument("dir", help="a sweep's result directory")
    p.add_argument("-o", "--output", required=True, help="output file (.png, .pdf or .svg)")
    p.add_argument(
        "--kind",
        choices=["accuracy-ber", "energy-accuracy", "latency-accuracy", "yield"],
        default="energy-accuracy",
        help="yield: chips within --max-accuracy-drop against the knob (stuck-cell sweeps)",
    )
    choice_options(p)
    p.set_defaults(func=cmd_plot)
