"""Per-cell fault maps of a measured chip, as referenced by a profile's ``fault_maps`` block.

Fault-map kinds (one per profile):

``stuck_at``
    per voltage, boolean masks ``stuck_at_0`` and ``stuck_at_1`` (NPZ) or a pair of
    0/1 text matrices ``..sa0.._v_<V>.txt`` / ``..sa1.._v_<V>.txt``. A stuck-at-0 cell
    reads 0 whatever is stored: ``p10 = 1, p01 = 0`` (and the reverse for stuck-at-1).
``flip_probability``
    per voltage, float arrays ``p01`` and ``p10`` in [0, 1] (NPZ).
``failure_voltage``
    one NPZ array ``failure_voltage_v``: a cell fails (reads the complement) at any
    supply below its failure voltage; NaN means it never fails. Fault sets are
    nested across voltages by construction.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memsim.errors import ProfileError, format_problem
from memsim.profile.curves import knob_close
from memsim.profile.readers import load_npz, read_bit_matrix

__all__ = ["MAP_KINDS", "NPZ_KEYS", "FaultMapSet", "MapEntry"]

MAP_KINDS = ("stuck_at", "flip_probability", "failure_voltage")
NPZ_KEYS = {
    "stuck_at": ("stuck_at_0", "stuck_at_1"),
    "flip_probability": ("p01", "p10"),
    "failure_voltage": ("failure_voltage_v",),
}


@dataclass
class MapEntry:
    """One measured map: its knob value (None for failure voltages) and its files."""

    at: float | None
    paths: dict[str, Path]


class FaultMapSet:
    """Per-cell fault maps referenced by a profile's ``fault_maps`` block.

    Attributes
    ----------
    kind : str
        ``stuck_at``, ``flip_probability`` or ``failure_voltage``.
    knob : str
        The knob the maps are indexed by (usually ``vdd_v``).
    shape : tuple of int
        Shape of every map (cells).
    """

    def __init__(self, kind: str, knob: str, shape: tuple[int, ...], entries: list[MapEntry], label: str) -> None:
        self.kind = kind
        self.knob = knob
        self.shape = shape
        self.entries = entries
        self.label = label

    @property
    def knob_values(self) -> list[float]:
        """Knob values with a measured map (empty for ``failure_voltage``: any value works)."""
        return [e.at for e in self.entries if e.at is not None]

    def _check_shape(self, array: np.ndarray, where: str) -> np.ndarray:
        if tuple(array.shape) != self.shape:
            raise ProfileError(
                format_problem(
                    where,
                    None,
                    f"map shape {tuple(array.shape)} does not match the declared fault_maps.shape {self.shape}; "
                    "all maps must have one shape",
                )
            )
        return array

    def _check_values(self, array: np.ndarray, where: str, key: str) -> np.ndarray:
        """NPZ maps hold what their kind says, checked as strictly as the text-matrix reader checks 0/1 files."""
        if array.dtype.kind not in "biuf":
            raise ProfileError(format_problem(where, None, f"dtype {array.dtype} is not numeric; {key} holds numbers"))
        if key.startswith("stuck_at"):
            bad = ~np.isin(array, (0, 1)) if array.dtype.kind != "b" else np.zeros(array.shape, bool)
            if bad.any():
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ProfileError(
                    format_problem(
                        where, f"cell {index}", f"{array[index].item()!r} is not 0 or 1 (a stuck-at mask is 0/1)"
                    )
                )
            return array.astype(bool)
        if key in ("p01", "p10"):
            bad = ~((array >= 0) & (array <= 1))
            if bad.any():
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ProfileError(
                    format_problem(where, f"cell {index}", f"{array[index].item()!r} is not a probability in [0, 1]")
                )
        return array

    def _load_entry(self, entry: MapEntry) -> dict[str, np.ndarray]:
        if "npz" in entry.paths:
            arrays = load_npz(entry.paths["npz"], NPZ_KEYS[self.kind])
            out = {}
            for k in NPZ_KEYS[self.kind]:
                where = f"{entry.paths['npz']}: {k}"
                out[k] = self._check_values(self._check_shape(np.asarray(arrays[k]), where), where, k)
            return out
        return {
            "stuck_at_0": self._check_shape(read_bit_matrix(entry.paths["sa0"]), str(entry.paths["sa0"])),
            "stuck_at_1": self._check_shape(read_bit_matrix(entry.paths["sa1"]), str(entry.paths["sa1"])),
        }

    def cell_rates(self, value: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-cell ``(p01, p10)`` at knob value ``value``.

        For ``failure_voltage`` any value works; for per-voltage maps it must be
        one of :attr:`knob_values`.

        Returns
        -------
        p01, p10 : ndarray of float32, shape :attr:`shape`
        """
        if self.kind == "failure_voltage":
            vfail = np.asarray(self._load_entry(self.entries[0])["failure_voltage_v"], dtype=float)
            failing = np.nan_to_num(vfail, nan=-np.inf) > value
            rate = failing.astype(np.float32)
            return rate, rate.copy()
        for entry in self.entries:
            if entry.at is not None and knob_close(value, entry.at):
                arrays = self._load_entry(entry)
                if self.kind == "stuck_at":
                    sa0, sa1 = arrays["stuck_at_0"].astype(bool), arrays["stuck_at_1"].astype(bool)
                    if np.any(sa0 & sa1):
                        cell = tuple(int(i) for i in np.argwhere(sa0 & sa1)[0])
                        raise ProfileError(
                            format_problem(
                                " and ".join(str(p) for p in entry.paths.values()),  # the input files, not the profile
                                f"cell {cell} at {self.knob}={value:g}",
                                "is both stuck-at-0 and stuck-at-1",
                            )
                        )
                    return sa1.astype(np.float32), sa0.astype(np.float32)
                p01, p10 = (np.asarray(arrays[k], dtype=float) for k in ("p01", "p10"))
                for key, arr in (("p01", p01), ("p10", p10)):
                    if not np.all((arr >= 0) & (arr <= 1)):
                        raise ProfileError(
                            format_problem(
                                self.label,
                                f"fault map {key} at {self.knob}={value:g}",
                                "values must be probabilities in [0, 1]",
                            )
                        )
                return p01.astype(np.float32), p10.astype(np.float32)
        raise ProfileError(
            format_problem(
                self.label,
                "fault_maps",
                f"no map at {self.knob}={value:g}; maps exist at: {', '.join(f'{v:g}' for v in self.knob_values)}",
            )
        )

    def nesting(self) -> list[tuple[float, float, int]]:
        """How far the measured maps are from nested, step by step down the knob.

        Drawn stuck cells are nested (every cell that fails at a voltage fails at every lower
        one); measured maps often are not. Returns, for each pair of consecutive knob values
        ``(higher, lower)``, the number of cells that fail at ``higher`` but read correctly at
        ``lower``. Empty for ``failure_voltage`` maps, nested by construction.
        """
        if self.kind == "failure_voltage":
            return []
        values = sorted(self.knob_values)
        failing = {}
        for v in values:
            p01, p10 = self.cell_rates(v)
            failing[v] = (p01 > 0) | (p10 > 0)
        steps = [(hi, lo, int(np.count_nonzero(failing[hi] & ~failing[lo]))) for lo, hi in itertools.pairwise(values)]
        return steps[::-1]

    def nesting_note(self) -> str | None:
        """One sentence on cells lost between voltage steps, or None if the maps are nested."""
        lost = [(hi, lo, n) for hi, lo, n in self.nesting() if n]
        if not lost:
            return None
        steps = "; ".join(f"{n} cells fail at {self.knob}={hi:g} but read correctly at {lo:g}" for hi, lo, n in lost)
        return f"the maps are not nested ({steps}): reproduced as measured, unlike drawn stuck cells"

    def ber_points(self, values: Sequence[float] | None = None) -> list[tuple[float, float, float]]:
        """``(knob value, p01, p10)`` averaged over cells, ascending in the knob value."""
        values = sorted(values if values is not None else self.knob_values)
        points = []
        for v in values:
            p01, p10 = self.cell_rates(v)
            points.append((float(v), float(p01.mean(dtype=np.float64)), float(p10.mean(dtype=np.float64))))
        return points
