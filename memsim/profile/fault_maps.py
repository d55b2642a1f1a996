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
        Shape of every map (cells); None until the first map is read, if not declared.
    """

    def __init__(
        self, kind: str, knob: str, shape: tuple[int, ...] | None, entries: list[MapEntry], label: str
    ) -> None:
        self.kind = kind
        self.knob = knob
        self._shape = shape
        self.entries = entries
        self.label = label

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of every map (cells): declared, or that of the first map read."""
        if self._shape is None:
            self.cell_rates(self.knob_values[0] if self.knob_values else 0.0)
        assert self._shape is not None
        return self._shape

    @property
    def knob_values(self) -> list[float]:
        """Knob values with a measured map (empty for ``failure_voltage``: any value works)."""
        return [e.at for e in self.entries if e.at is not None]

    def _check_shape(self, array: np.ndarray, where: str) -> np.ndarray:
        if array.ndim == 0 or array.size == 0:
            what = "a 0-d array (one value)" if array.ndim == 0 else f"empty (shape {tuple(array.shape)})"
            raise ProfileError(format_problem(where, None, f"is {what}; a map holds one value per cell"))
        if self._shape is None:  # an import: the first map read sets it
            self._shape = tuple(array.shape)
        if tuple(array.shape) != self._shape:
            raise ProfileError(
                format_problem(
                    where,
                    None,
                    f"map shape {tuple(array.shape)} does not match the declared fault_maps.shape {self._shape}; "
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
        if key == "failure_voltage_v":  # NaN: never fails; otherwise a voltage, finite and positive
            bad = ~(np.isnan(array) | (np.isfinite(array) & (array > 0)))
            if bad.any():
                index = tuple(int(i) for i in np.argwhere(bad)[0])
                problem = f"{array[index].item()!r} is not a positive, finite voltage (NaN: never fails)"
                raise ProfileError(format_problem(where, f"cell {index}", problem))
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
        p01, p10 = self._rates(value)
        return p01.astype(np.float32), p10.astype(np.float32)

    def _rates(self, value: float) -> tuple[np.ndarray, np.ndarray]:
        # As read: bool masks for stuck-at and failure-voltage maps (an eighth of float64's memory).
        if self.kind == "failure_voltage":
            vfail = np.asarray(self._load_entry(self.entries[0])["failure_voltage_v"], dtype=float)
            failing = np.nan_to_num(vfail, nan=-np.inf) > value
            return failing, failing
        for entry in self.entries:
            if entry.at is not None and knob_close(value, entry.at):
                arrays = self._load_entry(entry)
                if self.kind == "stuck_at":
                    sa0, sa1 = arrays["stuck_at_0"].astype(bool), arrays["stuck_at_1"].astype(bool)
                    both = sa0 & sa1
                    if np.any(both):
                        cell = tuple(int(i) for i in np.argwhere(both)[0])
                        raise ProfileError(
                            format_problem(
                                " and ".join(str(p) for p in entry.paths.values()),  # the input files, not the profile
                                f"cell {cell} at {self.knob}={value:g}",
                                "is both stuck-at-0 and stuck-at-1",
                            )
                        )
                    return sa1, sa0
                return np.asarray(arrays["p01"], dtype=float), np.asarray(arrays["p10"], dtype=float)
        raise ProfileError(
            format_problem(
                self.label,
                "fault_maps",
                f"no map at {self.knob}={value:g}; maps exist at: {', '.join(f'{v:g}' for v in self.knob_values)}",
            )
        )

    def _failing_and_means(self, value: float) -> tuple[np.ndarray, float, float]:
        """Cells that can fail at ``value`` (bool), and the cell-average ``p01`` and ``p10``, from one read."""
        p01, p10 = self._rates(value)
        return (p01 > 0) | (p10 > 0), float(p01.mean(dtype=np.float64)), float(p10.mean(dtype=np.float64))

    def _scan(self) -> tuple[list[tuple[float, float, float]], list[tuple[float, float, int]]]:
        """One pass over the per-voltage maps, ascending: the BER points and the nesting steps.

        Each map is read once and only two failing masks are held (a 14.6 Mbit chip's text maps
        are slow to parse); the result is memoized by the files' identity (path, size, mtime).
        """
        key = tuple(
            (str(p), st.st_size, st.st_mtime_ns) for e in self.entries for p in e.paths.values() for st in [p.stat()]
        )
        if key in _SCANS:
            return _SCANS[key]
        points, steps = [], []
        below: tuple[float, np.ndarray] | None = None
        for v in sorted(self.knob_values):
            failing, p01, p10 = self._failing_and_means(v)
            points.append((float(v), p01, p10))
            if below is not None:
                steps.append((v, below[0], int(np.count_nonzero(failing & ~below[1]))))
            below = (v, failing)
        _SCANS[key] = (points, steps[::-1])
        return _SCANS[key]

    def nesting(self) -> list[tuple[float, float, int]]:
        """How far the measured maps are from nested, step by step down the knob.

        Drawn stuck cells are nested (every cell that fails at a voltage fails at every lower
        one); measured maps often are not. Returns, for each pair of consecutive knob values
        ``(higher, lower)``, the number of cells that fail at ``higher`` but read correctly at
        ``lower``. Empty for ``failure_voltage`` maps, nested by construction.
        """
        return [] if self.kind == "failure_voltage" else list(self._scan()[1])

    def nesting_note(self) -> str | None:
        """One sentence on cells lost between voltage steps, or None if the maps are nested."""
        lost = [(hi, lo, n) for hi, lo, n in self.nesting() if n]
        if not lost:
            return None
        steps = "; ".join(f"{n} cells fail at {self.knob}={hi:g} but read correctly at {lo:g}" for hi, lo, n in lost)
        return f"the maps are not nested ({steps}): reproduced as measured, unlike drawn stuck cells"

    def ber_points(self, values: Sequence[float] | None = None) -> list[tuple[float, float, float]]:
        """``(knob value, p01, p10)`` averaged over cells, ascending in the knob value.

        ``values`` defaults to the measured voltages (read in one pass with :meth:`nesting`);
        a failure-voltage map takes any values.
        """
        if values is None and self.kind != "failure_voltage":
            return list(self._scan()[0])
        return [(float(v), *self._failing_and_means(v)[1:]) for v in sorted(values or ())]


#: Memo of :meth:`FaultMapSet._scan` by the maps' file identities (a profile is loaded more than once).
_SCANS: dict[
    tuple[tuple[str, int, int], ...], tuple[list[tuple[float, float, float]], list[tuple[float, float, int]]]
] = {}
