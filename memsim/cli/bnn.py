"""``memsim margins`` and ``memsim evaluate``: a network's tolerance and accuracy on a data set."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from memsim.cli._args import check_limit, load_net, partition_options, print_json, resolve_rates
from memsim.report.text import format_value, table

__all__ = ["register"]


def cmd_margins(args: argparse.Namespace) -> int:
    from memsim.bnn import BNN
    from memsim.bnn.margins import margin_report
    from memsim.datasets import load_dataset
    from memsim.errors import ConfigError

    net = load_net(args.model)
    if not isinstance(net, BNN):
        raise ConfigError(
            f"{args.model}: margins (Eqs. 3-4) are defined for binarized networks; this is a torch network"
        )
    images, labels = load_dataset(args.dataset, args.split)
    if check_limit(args.limit) is not None:
        images, labels = images[: args.limit], labels[: args.limit]
    report = margin_report(net, images, labels, importance=not args.no_importance)
    if args.json:
        print_json(report.to_dict())
        return 0
    data = report.to_dict()
    print(f"{net!r} on {data['n_images']} images of {args.dataset}/{args.split}: clean accuracy {data['accuracy']:.4f}")
    rows = []
    for item in [*data["hidden_layers"], {**data["output"], "layer": len(net.layers) - 1, "kind": "output"}]:
        pct = item["margin_percentiles"]
        rows.append(
            [
                item["layer"],
                item["kind"],
                item["count"],
                item["margin_mean"],
                pct[5],
                pct[50],
                pct[95],
                item["tolerated_mean"],
                item["fraction_tolerating_none"],
            ]
        )
    print("neuron margins T = |h - s| (hidden, Eq. 3) and output margins m (Eq. 4); tolerated flips by Corollary 1 / 2")
    print(table(["layer", "kind", "count", "mean", "p5", "median", "p95", "tolerated_mean", "frac_none"], rows))
    if data["importance"]:
        print("\ninter-neuron importance (mean drop of the decision margin when one neuron is inverted)")
        rows = [[d["layer"], d["mean"], d["variance"], d["min"], d["max"]] for d in data["importance"]]
        print(table(["layer", "mean", "variance", "min", "max"], rows))
    return 0


def cmd_evaluate(args: argparse.Namespace, extra: Sequence[str]) -> int:
    from memsim.bnn.network import parse_in_memory
    from memsim.datasets import load_dataset
    from memsim.experiment.conditions import describe_fault_model
    from memsim.experiment.evaluate import evaluate

    parse_in_memory(args.in_memory)  # a bad --in-memory is reported before any data is loaded
    net = load_net(args.model)
    rates, fault = resolve_rates(args, extra, "--profile")
    if rates is None:
        rates = 0.0
    images, labels = load_dataset(args.dataset or net.metadata.get("dataset", "fashion-mnist-demo"), args.split)
    if check_limit(args.limit) is not None:
        images, labels = images[: args.limit], labels[: args.limit]
    from memsim.memory.partition import REGION_FIELDS, Partitioning

    partitioning = Partitioning.parse(args.partition or (), args.assign or (), args.ecc, args.protect or (),
                                      args.ecc_policy)  # fmt: skip
    result = evaluate(
        net,
        images,
        labels,
        rates,
        fault,
        args.granularity,
        args.seed,
        in_memory=args.in_memory,
        threshold_dtype=args.threshold_dtype,
        partitioning=partitioning,
    )
    if args.json:
        print_json(result.to_dict())
        return 0
    rates = "" if result.p01 == result.p10 else f" (p01 {format_value(result.p01)}, p10 {format_value(result.p10)})"
    print(
        f"{net!r}, {result.n_images} images, {describe_fault_model(fault)} faults at BER {format_value(result.ber)}"
        f"{rates} on the {result.in_memory.replace(',', ' and ')} ({result.granularity}, "
        f"seed {result.seed})"
    )
    print(f"accuracy {result.accuracy:.4f} (95 % CI {result.ci_low:.4f}-{result.ci_high:.4f})")
    if result.read_energy_pj_per_image is not None:
        energy = f"{result.read_energy_pj_per_image / 1e6:.4g} uJ"
    elif args.profile is None:
        energy = "n/a (a bare --ber has no energy model; give --profile)"
    else:
        energy = f"n/a ({args.profile} publishes no read energy)"
    print(
        f"memory reads: {result.reads}, {result.bits_read} bits, {result.bits_flipped} flipped; {result.seconds:.2f} s"
    )
    print(f"read energy per image: {energy}")
    for name, counts in result.regions:
        c = dict(zip(REGION_FIELDS, counts, strict=True))
        n = max(result.n_images, 1)
        decode = ""
        if c["codewords"]:
            decode = (f"; per image {c['raw_flips'] / n:.4g} raw flips, {c['corrected'] / n:.4g} corrected, "
                      f"{c['detected'] / n:.4g} detected, {c['silent'] / n:.4g} silent codewords")  # fmt: skip
        print(f"region {name}: {c['bits_stored']} bits stored, {c['bits_read'] // n} read per image "
              f"({c['check_bits_read'] // n} check bits){decode}")  # fmt: skip
    if result.detected_units:
        print(f"detected failures: {result.detected_units} of {result.n_images} images")
    return 0


def register(sub: Any) -> None:
    """Add the ``margins`` and ``evaluate`` commands to the ``memsim`` parser."""
    from memsim.datasets import available_datasets
    from memsim.memory import available_fault_models

    p = sub.add_parser("margins", help="margin-based bit error tolerance metrics of a model on a data set")
    p.add_argument("model", help="model file, shipped model name, or random:ARCH[:SEED]")
    p.add_argument(
        "--dataset",
        default="fashion-mnist-demo",
        metavar="NAME|FILE.npz",
        help=f"{', '.join(available_datasets())} or a .npz of images and labels",
    )
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--no-importance", action="store_true", help="skip the inter-neuron importance (slowest part)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_margins)

    from memsim.memory.granularity import ReadGranularity

    p = sub.add_parser("evaluate", help="accuracy of a model with its weights in approximate memory")
    p.add_argument("model", help="model file, shipped model name, or random:ARCH[:SEED]")
    p.add_argument("--profile", help="profile name or .yaml path (knobs as --<knob> VALUE)")
    p.add_argument("--ber", type=float, help="symmetric bit error rate instead of a profile")
    p.add_argument("--fault-model", choices=available_fault_models(), help="default: what the profile implies")
    p.add_argument("--persistent-fraction", type=float, help="share of errors from stuck cells (fault model mixed)")
    p.add_argument("--granularity", default="per_sample", choices=[g.value for g in ReadGranularity])
    p.add_argument(
        "--in-memory",
        default="weights",
        metavar="PARTS",
        help="what the approximate memory holds: weights (default), thresholds, or weights,thresholds",
    )
    p.add_argument(
        "--threshold-dtype",
        default="int16",
        choices=["int16", "int32"],
        help="word of a stored threshold (default int16)",
    )
    p.add_argument(
        "--dataset",
        metavar="NAME|FILE.npz",
        help=f"{', '.join(available_datasets())} or a .npz of images and labels (default: the model's data set)",
    )
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extrapolate", action="store_true", help="allow knob values outside the profile's range")
    partition_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate, takes_extra=True)
