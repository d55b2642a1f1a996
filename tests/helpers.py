"""Test helpers: a small valid profile as data, YAML writing, and a median timer for benchmarks."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


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
                "persistence": "per_read",
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
                "persistence": "per_read",
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


def median_seconds(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` over ``repeat`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
