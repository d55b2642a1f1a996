"""The cheapest assignment of operating points and codes to a network's memory regions, within an accuracy drop.

Given a model, a profile, one numeric knob (the supply voltage, say), the regions (by default one per
stored layer, plus the thresholds when they are in the memory) and the codes allowed, :func:`optimize`
finds a low-energy assignment of a knob value and a code (or none) to every region whose accuracy drop
against the nominal point stays within ``max_accuracy_drop`` at ``confidence``. It spends evaluations
where they decide something:

1. **nominal**: every region at the nominal point, no code (the reference, and the plain memory every
   saving is counted against);
2. **uniform**: one knob value for every region (with each code allowed, and without): the best single
   operating point a designer would pick without partitions, scanned from nominal down;
3. **sensitivity**: each region alone moved down (the others nominal), bisecting the knob per code for
   the lowest value it tolerates: each region's ladder of individually acceptable options, by energy;
4. **combine**: every region at its cheapest acceptable option, then backing off (one rung up the ladder
   of the region whose own drop there was largest) until the whole assignment is acceptable;
5. **descent**: a coordinate descent, one rung cheaper per region while the whole stays acceptable;
6. **confirm**: the chosen assignment and the best uniform point again with ``confirm_trials`` trials;
   an assignment whose bound fails there backs off and is confirmed again.

An assignment is acceptable when the one-sided ``confidence`` upper bound of its accuracy drop is within
``max_accuracy_drop``. The drop is paired: every evaluation uses the same test images, the same trial
seeds and the same chips (common random numbers), and the nominal is evaluated on them. Its bound is over
the independent units of randomness: images (fresh flips per read: every (trial, image) pair's
difference) or chips (stuck cells drawn per chip: a t bound over the trials' drops).

Energy is per inference from each region's reads at its point (data and check bits), the decoders and
compute (:func:`memsim.memory.partition.partition_energy`); savings are against the plain memory at the
nominal point.
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memsim.datasets import load_dataset
from memsim.errors import ConfigError, UnknownNameError, suggest
from memsim.experiment.conditions import resolve_fault_model
from memsim.experiment.evaluate import Evaluation, evaluate
from memsim.experiment.networks import load_network
from memsim.memory.ecc import get_code
from memsim.memory.energy import inference_energy
from memsim.memory.partition import Partitioning, Region, partition_energy
from memsim.profile import load_profile
from memsim.rng import child_key, seed_key

__all__ = ["Assignment", "OptimizeResult", "Option", "Step", "optimize"]


@dataclass(frozen=True, order=True)
class Option:
    """One choice for a region: a knob value and a code (None: no code)."""

    value: float
    code: str | None = None

    def label(self) -> str:
        return f"{self.value:g}" + (f"+{self.code}" if self.code else "")


#: Region name -> its option.
Assignment = dict[str, Option]


@dataclass
class Step:
    """One evaluation the optimizer spent.

    Attributes
    ----------
    stage : str
        ``nominal``, ``uniform``, ``sensitivity``, ``combine``, ``descent`` or ``confirm``.
    assignment : dict
        Region -> :class:`Option`.
    trials, images : int
    accuracy : float
    drop, drop_bound : float
        Accuracy drop against nominal (paired) and its one-sided upper bound at the confidence level.
    units : str
        What the bound is over: ``images`` or ``chips``.
    energy_pj, memory_pj, ecc_pj : float or None
        Energy per inference: total, memory part, and the codes' part (check bits and decoding).
    saved, memory_saved : float or None
        Against the plain memory at the nominal point (total and memory).
    acceptable : bool
        ``drop_bound <= max_accuracy_drop``.
    """

    stage: str
    assignment: Assignment
    trials: int
    images: int
    accuracy: float
    drop: float
    drop_bound: float
    units: str
    energy_pj: float | None
    memory_pj: float | None
    ecc_pj: float | None
    saved: float | None
    memory_saved: float | None
    acceptable: bool

    def describe(self, knob: str, regions: Sequence[str]) -> str:
        """The assignment in one line: ``layer0=1+secded64 layer1=0.8 ...``."""
        opts = {self.assignment[r] for r in regions}
        if len(opts) == 1:
            return f"all at {knob}={next(iter(opts)).label()}"
        return " ".join(f"{r}={self.assignment[r].label()}" for r in regions)

    def to_dict(self, knob: str) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "assignment"}
        out["assignment"] = {r: {knob: o.value, "code": o.code} for r, o in self.assignment.items()}
        return out


@dataclass
class OptimizeResult:
    """The outcome of :func:`optimize`: the assignment, the baselines and every evaluation spent."""

    model: str
    profile: str
    knob: str
    regions: dict[str, str]
    max_accuracy_drop: float
    confidence: float
    nominal: Step
    uniform: dict[str, Step | None]
    best: Step
    steps: list[Step] = field(default_factory=list)
    images_evaluated: int = 0
    seconds: float = 0.0

    @property
    def single(self) -> Step | None:
        """The best single operating point without codes, confirmed (None if only nominal qualifies)."""
        return self.uniform.get("none")

    def verdict(self) -> str:
        """Whether the assignment beats the best single voltage, in one sentence."""
        single = self.single
        base = self.nominal if single is None else single
        if self.best.energy_pj is None or base.energy_pj is None:
            return "no energy published: the assignment is chosen by accuracy alone"
        gain = 1 - self.best.energy_pj / base.energy_pj
        where = (
            "nominal"
            if single is None
            else f"the best single {self.knob} ({single.describe(self.knob, list(self.regions))})"
        )
        coded = any(o.code for o in self.best.assignment.values())
        what = "per-region points and codes" if coded else "per-region points"
        if gain > 1e-9:
            return f"the assignment uses {100 * gain:.1f} % less energy per inference than {where}: {what} pay here"
        return f"the assignment does not beat {where}: per-region points and codes do not pay here"

    def to_text(self) -> str:
        names = list(self.regions)
        shown = [("nominal", self.nominal)]
        shown += [(f"single {self.knob}" + ("" if code == "none" else f" + {code}"), s)
                  for code, s in self.uniform.items() if s is not None]  # fmt: skip
        shown.append(("optimized", self.best))
        w_label = max(len(label) for label, _ in shown)
        w_where = max(len(s.describe(self.knob, names)) for _, s in shown)
        lines = [
            f"{self.model} on {self.profile}: {self.knob} per region "
            f"({', '.join(f'{r}={p}' for r, p in self.regions.items())}), "
            f"drop <= {100 * self.max_accuracy_drop:g} points at {100 * self.confidence:g} % confidence",
            "",
            f"{'what':<{w_label}} {'assignment':<{w_where}} {'accuracy':>8} {'drop (bound)':>15} {'energy uJ':>9} "
            f"{'saved':>7} {'ecc uJ':>7}",
        ]

        def line(label: str, s: Step) -> str:
            e = "-" if s.energy_pj is None else f"{s.energy_pj / 1e6:.3f}"
            sv = "-" if s.saved is None else f"{100 * s.saved:.1f} %"
            ecc = "-" if not s.ecc_pj else f"{s.ecc_pj / 1e6:.3f}"
            drop = f"{100 * s.drop:+.2f} ({100 * s.drop_bound:+.2f})"
            where = s.describe(self.knob, names)
            return f"{label:<{w_label}} {where:<{w_where}} {s.accuracy:>8.4f} {drop:>15} {e:>9} {sv:>7} {ecc:>7}"

        lines += [line(label, s) for label, s in shown]
        lines += [
            "",
            self.verdict() + ".",
            f"{len(self.steps)} evaluations, {self.images_evaluated:,} inferences, {self.seconds:.0f} s; drops are "
            f"paired (same images, seeds and chips), bounds one-sided over {self.best.units}.",
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "profile": self.profile,
            "knob": self.knob,
            "regions": self.regions,
            "max_accuracy_drop": self.max_accuracy_drop,
            "confidence": self.confidence,
            "nominal": self.nominal.to_dict(self.knob),
            "uniform": {k: None if s is None else s.to_dict(self.knob) for k, s in self.uniform.items()},
            "best": self.best.to_dict(self.knob),
            "verdict": self.verdict(),
            "steps": [s.to_dict(self.knob) for s in self.steps],
            "images_evaluated": self.images_evaluated,
            "seconds": self.seconds,
        }


def default_regions(net: Any, in_memory: str) -> dict[str, str]:
    """One region per stored layer (named as the layer's array), plus ``thresholds`` when they are in memory."""
    names = net.weight_names()
    regions = {n.replace(".", "_"): n for n in names}
    if "thresholds" in in_memory:
        regions["thresholds"] = "*.threshold"
    return regions


class _Evaluator:
    """Evaluations of assignments on fixed images, seeds and chips (common random numbers)."""

    def __init__(self, net: Any, images: np.ndarray, labels: np.ndarray, profile: Any, knob: str,
                 regions: Mapping[str, str], fault: Any, seed: int, options: Mapping[str, Any],
                 confidence: float, budget: float, progress: Callable[[Step], None] | None) -> None:  # fmt: skip
        self.net, self.images, self.labels = net, images, labels
        self.profile, self.knob, self.regions = profile, knob, dict(regions)
        self.fault, self.seed, self.options = fault, seed, dict(options)
        self.confidence, self.budget = confidence, budget
        self.progress = progress
        self.nominal_value = float(profile.knobs[knob].nominal)
        self.nominal_op = profile.at()
        self.pj_per_op = float(net.compute_pj_per_op)
        self.ops = float(sum(net.layer_ops()))
        self.nominal_hits: list[np.ndarray] = []
        self.steps: list[Step] = []
        self.images_evaluated = 0
        self.cache: dict[tuple[tuple[str, Option], ...], Step] = {}
        self.chips = fault.chip_faults(0.1, 0.1) == "drawn"

    def partitioning(self, a: Assignment) -> Partitioning:
        regions = [Region(r, ((self.knob, o.value),), o.code) for r, o in a.items()]
        return Partitioning(tuple(regions), tuple((p, r) for r, p in self.regions.items()))

    def _trial_seeds(self, t: int) -> tuple[int, int]:
        key = child_key(seed_key(self.seed), "optimize", t)
        return key[0] >> 1, key[1] >> 1

    def _run(self, a: Assignment, trial: int, images: np.ndarray, labels: np.ndarray) -> Evaluation:
        reads, chip = self._trial_seeds(trial)
        return evaluate(self.net, images, labels, self.nominal_op, self.fault, seed=reads, chip_seed=chip,
                        partitioning=self.partitioning(a), profile=self.profile, return_hits=True,
                        **self.options)  # fmt: skip

    def energy(self, a: Assignment, result: Evaluation) -> tuple[float | None, float | None, float | None,
                                                                 float | None, float | None]:  # fmt: skip
        n = result.n_images
        p = self.partitioning(a)
        points = {r.name: p.point(r, self.nominal_op, self.profile) for r in p.regions}
        per = {name: [float(v) / n for v in c] for name, c in result.regions}
        for name, c in result.regions:
            per[name][7], per[name][8] = float(c[7]), float(c[8])
        pe = partition_energy(p, points, per, self.ops, None, self.pj_per_op)
        data_bits = sum(c[0] - c[1] for _, c in result.regions) / n
        plain = inference_energy(self.nominal_op, data_bits, self.ops, None, compute_pj_per_op=self.pj_per_op)
        total, memory = pe.breakdown.total_pj, pe.breakdown.memory_pj
        saved = None if total is None or not plain.total_pj else 1 - total / plain.total_pj
        msaved = None if memory is None or not plain.memory_pj else 1 - memory / plain.memory_pj
        return total, memory, pe.ecc_pj, saved, msaved

    def option_energy(self, option: Option) -> dict[str, float]:
        """Each region's energy per inference at ``option`` (one image: reads per image are fixed)."""
        a = dict.fromkeys(self.regions, option)
        result = self._run(a, 0, self.images[:1], self.labels[:1])
        p = self.partitioning(a)
        points = {r.name: p.point(r, self.nominal_op, self.profile) for r in p.regions}
        per = {name: [float(v) for v in c] for name, c in result.regions}
        pe = partition_energy(p, points, per, 0.0, None, 0.0)
        return {r: float(pe.regions.get(r) or 0.0) for r in self.regions}

    def nominal(self, trials: int) -> Step:
        a = dict.fromkeys(self.regions, Option(self.nominal_value))
        results = [self._run(a, t, self.images, self.labels) for t in range(trials)]
        self.nominal_hits = [r.hits for r in results]  # type: ignore[misc]
        return self._record(a, trials, "nominal", results)

    def run(self, a: Assignment, trials: int, stage: str) -> Step:
        key = tuple(sorted(a.items()))
        old = self.cache.get(key)
        if old is not None and old.trials >= trials:
            return old
        return self._record(a, trials, stage, [self._run(a, t, self.images, self.labels) for t in range(trials)])

    def _record(self, a: Assignment, trials: int, stage: str, results: list[Evaluation]) -> Step:
        self.images_evaluated += trials * len(self.labels)
        h = np.array([r.hits for r in results], dtype=np.float64)
        h0 = np.array(self.nominal_hits[:trials], dtype=np.float64)
        d = h0 - h  # paired per (trial, image)
        drop = float(d.mean())
        from scipy import stats

        if self.chips and trials > 1:
            per_chip = d.mean(axis=1)
            se = float(per_chip.std(ddof=1) / math.sqrt(trials))
            bound = drop + float(stats.t.ppf(self.confidence, trials - 1)) * se
        elif self.chips:
            bound = math.inf  # one chip says nothing of the others
        else:
            per_image = d.mean(axis=0)  # an image's trials share the image: the image is the unit
            se = float(per_image.std(ddof=1) / math.sqrt(per_image.size)) if per_image.size > 1 else math.inf
            bound = drop + float(stats.norm.ppf(self.confidence)) * se
        energy, memory, ecc, saved, msaved = self.energy(a, results[0])
        step = Step(stage, dict(a), trials, len(self.labels), float(h.mean()), drop, bound,
                    "chips" if self.chips else "images", energy, memory, ecc, saved, msaved,
                    bound <= self.budget + 1e-12)  # fmt: skip
        self.cache[tuple(sorted(a.items()))] = step
        self.steps.append(step)
        if self.progress is not None:
            self.progress(step)
        return step


def optimize(
    model: str,
    profile: str,
    knob: str | None = None,
    values: Sequence[float] | None = None,
    regions: Mapping[str, str] | None = None,
    codes: Sequence[str] = ("secded64",),
    max_accuracy_drop: float = 0.01,
    confidence: float = 0.95,
    trials: int = 2,
    confirm_trials: int = 6,
    limit: int | None = 2000,
    seed: int = 0,
    fault_model: str | None = None,
    in_memory: str = "weights",
    dataset: str | None = None,
    progress: Callable[[Step], None] | None = None,
    **evaluate_options: Any,
) -> OptimizeResult:
    """The lowest-energy assignment of a knob value and a code to each region within an accuracy drop.

    Parameters
    ----------
    model, profile : str
        A model and a profile (names or paths).
    knob : str, optional
        A numeric knob of the profile (default: its first).
    values : sequence of float, optional
        The knob values to choose from (default: the profile's data points from nominal down).
    regions : mapping, optional
        Region name -> array name pattern (default :func:`default_regions`: one per stored layer, plus
        ``thresholds`` with ``in_memory="weights,thresholds"``).
    codes : sequence of str
        Codes a region may use besides none (:data:`memsim.memory.ecc.CODES`; ``()`` for none).
    max_accuracy_drop, confidence : float
        The drop allowed (0.01 = 1 point) and the confidence of its one-sided bound.
    trials, confirm_trials : int
        Trials per search evaluation, and of the confirmation runs (and the nominal).
    limit : int or None
        Test images used (the first ``limit``; None: all).
    seed : int
        Seeds every trial (the same for every assignment: common random numbers).
    fault_model : str, optional
        Default: what the profile implies at the lowest value searched.
    in_memory : str
        ``weights`` or ``weights,thresholds``.
    progress : callable, optional
        Called with each :class:`Step` as it finishes.
    **evaluate_options
        ``granularity``, ``batch_size``, ``threshold_dtype`` (:func:`~memsim.experiment.evaluate.evaluate`).
    """
    start = time.perf_counter()
    if not 0 < max_accuracy_drop < 1:
        raise ConfigError(f"max_accuracy_drop must be in (0, 1), got {max_accuracy_drop!r}")
    if not 0.5 <= confidence < 1:
        raise ConfigError(f"confidence must be in [0.5, 1), got {confidence!r}")
    if not (isinstance(trials, int) and isinstance(confirm_trials, int) and 1 <= trials <= confirm_trials):
        raise ConfigError(f"need 1 <= trials <= confirm_trials, got {trials!r} and {confirm_trials!r}")
    for c in codes:
        get_code(c)
    prof = load_profile(profile)
    knob = knob or next(iter(prof.knobs))
    if knob not in prof.knobs:
        raise UnknownNameError(
            f"profile {prof.name!r} has no knob {knob!r}{suggest(knob, prof.knobs)}; its knobs: {', '.join(prof.knobs)}"
        )
    spec = prof.knobs[knob]
    if spec.is_categorical:
        raise ConfigError(f"knob {knob!r} is categorical; optimize over a numeric knob")
    nominal_value = float(spec.nominal)
    if values is None:
        values = [float(v) for v in prof.knob_values(knob)]
    values = sorted({float(v) for v in values} | {nominal_value}, key=lambda v: prof.at_knobs({knob: v}).ber)
    for v in values:
        prof.at_knobs({knob: v})  # the usual out-of-range error, before anything runs
    net = load_network(model)
    regions = dict(regions) if regions is not None else default_regions(net, in_memory)
    if not regions:
        raise ConfigError("no regions: give at least one NAME=PATTERN")
    arrays = list(net.weight_names())
    if "thresholds" in in_memory and hasattr(net, "threshold_names"):
        arrays += net.threshold_names()
    for name, pattern in regions.items():
        hits = [a for a in arrays if fnmatch.fnmatchcase(a, {"thresholds": "*.threshold"}.get(pattern, pattern))]
        if not hits:
            raise ConfigError(
                f"--region {name}={pattern} matches no array of {model}; its arrays: {', '.join(arrays)}"
                + suggest(pattern, arrays)
            )
    images, labels = load_dataset(str(dataset or net.metadata.get("dataset") or "fashion-mnist-demo"), "test")
    if limit:
        images, labels = images[:limit], labels[:limit]
    lowest = prof.at_knobs({knob: values[-1]})
    fault = resolve_fault_model(fault_model, prof, lowest)
    ev = _Evaluator(net, images, labels, prof, knob, regions, fault, seed,
                    {"in_memory": in_memory, **evaluate_options}, confidence, max_accuracy_drop, progress)  # fmt: skip
    nominal = ev.nominal(confirm_trials)
    top = Option(nominal_value)
    names = list(regions)
    choices = [Option(v, c) for c in (None, *codes) for v in values]
    energy = {o: ev.option_energy(o) for o in choices}
    # each region's options cheaper than the plain nominal, by energy
    ladder_all = {r: sorted((o for o in choices if energy[o][r] < energy[top][r] or o == top),
                            key=lambda o: -energy[o][r]) for r in names}  # fmt: skip

    # 2. uniform: one value for all regions, per code, from nominal down until two fail in a row
    uniform: dict[str, Step | None] = {}
    for code in (None, *codes):
        best: Step | None = None
        fails = 0
        for v in values[1:] if code is None else values:
            step = ev.run(dict.fromkeys(names, Option(v, code)), trials, "uniform")
            if step.acceptable:
                fails = 0
                if best is None or (step.energy_pj or math.inf) < (best.energy_pj or math.inf):
                    best = step
            else:
                fails += 1
                if fails == 2:
                    break
        uniform[code or "none"] = best

    # 3. sensitivity: per region and code, the lowest value it tolerates alone (bisection over the values)
    drop_alone: dict[tuple[str, Option], float] = {}
    lowest_ok: dict[tuple[str, str | None], int] = {}
    for r in names:
        for code in (None, *codes):
            good, bad = -1 if code is not None else 0, len(values)
            while bad - good > 1:
                mid = (good + bad) // 2
                probe = dict.fromkeys(names, top)
                probe[r] = Option(values[mid], code)
                step = ev.run(probe, trials, "sensitivity")
                drop_alone[r, probe[r]] = step.drop
                if step.acceptable:
                    good = mid
                else:
                    bad = mid
            lowest_ok[r, code] = good
    ladder = {r: [o for o in ladder_all[r] if o == top or values.index(o.value) <= lowest_ok[r, o.code]] for r in names}

    def back_off(a: Assignment) -> Assignment | None:
        """One rung up for the region whose own drop at its option is largest (ties: the cheapest step)."""
        movable = [r for r in names if ladder[r].index(a[r]) > 0]
        if not movable:
            return None
        r = max(movable, key=lambda x: (drop_alone.get((x, a[x]), 0.0), -energy[a[x]][x]))
        b = dict(a)
        b[r] = ladder[r][ladder[r].index(a[r]) - 1]
        return b

    # 4. combine: everything at its cheapest acceptable option, backing off until acceptable
    step = ev.run({r: ladder[r][-1] for r in names}, trials, "combine")
    while not step.acceptable:
        up = back_off(step.assignment)
        if up is None:
            break
        step = ev.run(up, trials, "combine")
    current = step if step.acceptable else nominal

    # 5. descent: one rung cheaper per region while acceptable
    improved = True
    while improved:
        improved = False
        for r in sorted(names, key=lambda x: -energy[current.assignment[x]][x]):
            i = ladder[r].index(current.assignment[r])
            if i + 1 >= len(ladder[r]):
                continue
            b = dict(current.assignment)
            b[r] = ladder[r][i + 1]
            step = ev.run(b, trials, "descent")
            if step.acceptable and (step.energy_pj or math.inf) < (current.energy_pj or math.inf):
                current, improved = step, True

    # 6. confirm the assignment and the uniform baselines with more trials
    def confirm(s: Step) -> Step:
        while True:
            c = ev.run(s.assignment, confirm_trials, "confirm")
            if c.acceptable:
                return c
            b = back_off(c.assignment)
            if b is None:
                return nominal
            s = ev.run(b, trials, "combine")

    best_step = confirm(current) if current is not nominal else nominal
    for label, found in uniform.items():
        if found is not None:
            checked = ev.run(found.assignment, confirm_trials, "confirm")
            uniform[label] = checked if checked.acceptable else None
    # the optimizer's answer is never worse than a confirmed uniform point
    for found in uniform.values():
        if found is not None and (found.energy_pj or math.inf) < (best_step.energy_pj or math.inf):
            best_step = found
    return OptimizeResult(
        net.metadata.get("name", model) if hasattr(net, "metadata") else model,
        prof.name,
        knob,
        regions,
        max_accuracy_drop,
        confidence,
        nominal,
        uniform,
        best_step,
        ev.steps,
        ev.images_evaluated,
        time.perf_counter() - start,
    )
