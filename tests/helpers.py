"""Test helpers: a small valid profile as data, YAML writing, and a median timer for benchmarks."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from memsim.bits import pack_bits
from memsim.bnn import BNN, Conv, Dense


def make_profile_data(**changes: Any) -> dict[str, Any]:
    """A minimal valid profile (two mechanisms, two knobs), with top-level keys replaced by ``changes``."""
    data: dict[str, Any] = {
        "schema_version": 1,
        "name": "tiny",
        "technology": "sram",
        "description": "a small profile for tests",
        "citations": {"lab": {"reference": "test bench measurement"}},
        "knobs": {
            "vdd_v": {"unit": "V", "nominal": 1.0, "min": 0.6, "max": 1.0},
            "trcd_ns": {"unit": "ns", "nominal": 10.0, "min": 5.0, "max": 10.0},
        },
        "mechanisms": [
            {
                "name": "voltage",
                "persistence": "transient",
                "curve": {
                    "knob": "vdd_v",
                    "source": "lab",
                    "provenance": "measured",
                    "points": [[0.6, 1.0e-1], [0.8, 1.0e-3], [0.9, 1.0e-5], [1.0, 0.0]],
                },
                "model": {
                    "form": "gaussian_threshold",
                    "knob": "vdd_v",
                    "params": {"mean": 0.5, "std": 0.08},
                    "source": "lab",
                    "provenance": "derived",
                },
            },
            {
                "name": "timing",
                "persistence": "transient",
                "curve": {
                    "knob": "trcd_ns",
                    "columns": ["trcd_ns", "p01", "p10"],
                    "source": "lab",
                    "provenance": "measured",
                    "points": [[5.0, 0.2, 0.1], [10.0, 0.0, 0.0]],
                },
            },
        ],
        "energy": {
            "read_pj_per_bit": {
                "value": 2.0,
                "source": "lab",
                "provenance": "measured",
                "scaling": [
                    {"law": "power", "knob": "vdd_v", "exponent": 2.0, "source": "lab", "provenance": "derived"}
                ],
            },
            "leakage_mw": {
                "value": 1.0,
                "source": "lab",
                "provenance": "measured",
                "scaling": [
                    {"law": "v_exp", "knob": "vdd_v", "k_per_unit": 4.0, "source": "lab", "provenance": "derived"}
                ],
            },
        },
        "latency": {
            "read_ns": {
                "value": 30.0,
                "source": "lab",
                "provenance": "measured",
                "scaling": [
                    {"law": "linear", "knob": "trcd_ns", "slope": 1.0, "source": "lab", "provenance": "derived"}
                ],
            }
        },
    }
    data.update(copy.deepcopy(changes))
    return data


def write_yaml(directory: Path, data: Any, stem: str = "tiny") -> Path:
    """Write ``data`` as ``<directory>/<stem>.yaml`` and return the path."""
    path = directory / f"{stem}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def call_seconds(fn: Callable[[], object], repeat: int, warmup: int) -> list[float]:
    """Wall times of ``repeat`` calls of ``fn()``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def median_seconds(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` over ``repeat`` calls, after ``warmup`` calls."""
    return statistics.median(call_seconds(fn, repeat, warmup))


def best_seconds(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    """Shortest wall time of ``fn()`` over ``repeat`` calls: what the machine can do, as a loop limit is
    measured (this host has slow spells that only ever lengthen a run)."""
    return min(call_seconds(fn, repeat, warmup))


def interleaved_best(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Shortest wall time of each of ``fns``, timed in turn for ``rounds`` rounds: a slow spell of the
    host hits every side alike, so the ratio of two best times compares like with like."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: min(ts) for name, ts in times.items()}


def rand_bits(rng, n):
    return pack_bits(rng.random(n) < 0.5).words


def thresholds(rng, n_in, n_out):
    spread = max(1, int(np.sqrt(n_in)))
    return rng.integers(-spread, spread + 1, n_out).astype(np.int32), rng.random(n_out) < 0.3


def awkward_net(seed: int, pad: int, pool: bool, c_mid: int, dense_mid: int, n_classes: int) -> BNN:
    """1x9x11 input -> conv(1->c_mid) -> conv(c_mid->5) -> dense(dense_mid) -> dense(n_classes)."""
    rng = np.random.default_rng(seed)
    h, w = 9, 11
    c1 = Conv(1, c_mid, pad, pool, rand_bits(rng, c_mid * 9), *thresholds(rng, 9, c_mid))
    h, w = c1.output_hw(h, w)
    c2 = Conv(c_mid, 5, 1 - pad, False, rand_bits(rng, 5 * 9 * c_mid), *thresholds(rng, 9 * c_mid, 5))
    h, w = c2.output_hw(h, w)
    n_in = h * w * 5
    d1 = Dense(n_in, dense_mid, (h, w, 5), rand_bits(rng, dense_mid * n_in), *thresholds(rng, n_in, dense_mid))
    d2 = Dense(dense_mid, n_classes, (dense_mid,), rand_bits(rng, n_classes * dense_mid), None, None)
    net = BNN("custom", (1, 9, 11), np.array([100], np.uint8), [c1, c2, d1, d2])
    net.validate()
    return net


def images_for(net, n, seed=0):
    c, h, w = net.input_shape
    return np.random.default_rng(seed).integers(0, 256, (n, c, h, w), dtype=np.uint8)


def data_root() -> Path:
    """Where the tests find the real data sets: ``$MEMSIM_DATA``, else ``../shared/datasets`` beside the checkout."""
    import os

    env = os.environ.get("MEMSIM_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
