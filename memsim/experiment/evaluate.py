"""One evaluation: accuracy of a BNN whose weights sit in approximate memory at one operating point."""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from memsim.bnn.network import BNN, in_memory_label, parse_in_memory
from memsim.errors import ConfigError
from memsim.experiment.conditions import Rates, apply_rates
from memsim.experiment.stats import wilson_interval
from memsim.memory.approximate import ApproximateMemory
from memsim.memory.faults import FaultModel
from memsim.memory.granularity import ReadGranularity, parse_granularity
from memsim.memory.partition import PartitionedMemory, Partitioning
from memsim.profile.core import Profile
from memsim.profile.operating_point import OperatingPoint

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: accuracy with a 95 % Wilson interval, and what the reads cost.

    Attributes
    ----------
    accuracy, ci_low, ci_high : float
        Fraction of correct predictions and its 95 % Wilson interval.
    n_images : int
    ber, p01, p10 : float
        Error rates of the memory.
    fault_model, granularity : str
    in_memory : str
        What the memory held and the network read from it: ``weights``, ``thresholds`` or both.
    read_energy_pj_per_image : float or None
        Weight-read energy per image at the operating point, in pJ (None if not published).
    reads, bits_read, bits_flipped : int
        Memory counters over the evaluation.
    correct : int
        Correct predictions.
    layer_bits_read : tuple of int
        Bits read per layer over the evaluation (the read granularity counts).
    seconds : float
        Wall time.
    seed : int or None
        The trial: seeds the reads (and the chip, unless ``chip_seed`` is given).
    chip_seed : int or None
        The memory's seed (its stuck cells) where it differs from ``seed``.
    batch_counts : tuple of (batch, correct, n)
        With ``per_batch``: per batch of the whole set (index ``i // batch_size``), the
        correct predictions and images evaluated here; empty otherwise.
    regions : tuple of (region, counts)
        With a partitioning: per region, ``(bits_read, check_bits_read, codewords, raw_flips,
        corrected, detected, silent, bits_stored)`` (:class:`~memsim.memory.partition.RegionCounts`).
    detected_units : int
        Images (batches with ``per_batch``) whose reads met a detected-uncorrectable codeword under
        the ``count`` policy.
    hits : ndarray of bool or None
        Per image, whether it was classified right (with ``return_hits=True``).
    """

    accuracy: float
    ci_low: float
    ci_high: float
    n_images: int
    ber: float
    p01: float
    p10: float
    fault_model: str
    granularity: str
    read_energy_pj_per_image: float | None
    reads: int
    bits_read: int
    bits_flipped: int
    seconds: float
    seed: int | None
    correct: int = 0
    layer_bits_read: tuple[int, ...] = ()
    in_memory: str = "weights"
    chip_seed: int | None = None
    batch_counts: tuple[tuple[int, int, int], ...] = ()
    regions: tuple[tuple[str, tuple[int, ...]], ...] = ()
    detected_units: int = 0
    hits: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-serialisable; without the per-image ``hits``)."""
        data = asdict(self)
        data.pop("hits")
        return data


def check_labels(net: BNN, labels: np.ndarray) -> None:
    """Refuse labels the network has no output for (a 7-class model on a 10-class data set).

    Raises
    ------
    ConfigError
        Labels that are not whole numbers in ``[0, net.n_classes)``.
    """
    y = np.asarray(labels)
    if y.size == 0:
        return
    if not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"labels must be whole class numbers, got dtype {y.dtype}")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= net.n_classes:
        raise ConfigError(
            f"labels run from {low} to {high}, but the model ({net.arch}) has {net.n_classes} outputs: "
            "it was not trained for this data set's classes"
        )


def evaluate(
    net: BNN,
    images: np.ndarray,
    labels: np.ndarray,
    rates: Rates = 0.0,
    fault_model: str | FaultModel = "transient",
    granularity: str = "per_sample",
    seed: int | None = 0,
    batch_size: int = 256,
    first_index: int = 0,
    in_memory: str | Collection[str] = "weights",
    threshold_dtype: str = "int16",
    chip_seed: int | None = None,
    partitioning: Partitioning | None = None,
    profile: Profile | None = None,
    return_hits: bool = False,
    **fault_options: Any,
) -> Evaluation:
    """Accuracy of ``net`` on ``images`` with its weights in an approximate memory set to ``rates``.

    Parameters
    ----------
    net : BNN
    images, labels : ndarray
        uint8 images as the data set gives them, and their labels.
    rates : OperatingPoint, float or (p01, p10)
        Operating point of a profile, a symmetric BER, or a pair.
    fault_model, granularity, seed, batch_size, first_index, **fault_options
        As for :class:`~memsim.ApproximateMemory` and :meth:`~memsim.BNN.forward`; ``seed``
        seeds both the memory and the trial. With ``first_index`` the images are a slice of a
        larger set starting there, and the counts of the slices add up, bit for bit, to the
        counts of the whole set.
    in_memory : str or sequence of str
        ``weights`` (default), ``thresholds`` or ``weights,thresholds``: what the memory holds
        (:meth:`~memsim.BNN.forward`); what it does not hold is exact and not counted.
    threshold_dtype : {"int16", "int32"}
        Word type of a stored threshold.
    chip_seed : int, optional
        Seed of the memory, which fixes its chip (drawn stuck cells, by address) apart from the
        trial's reads: the same ``chip_seed`` at two operating points is the same chip, its
        stuck cells nested as the error rate grows. Default: ``seed``.
    partitioning : Partitioning, optional
        Regions at their own operating points, codes and protected bits
        (:mod:`memsim.memory.partition`); ``rates`` is the swept point the regions follow.
    profile : Profile, optional
        The profile whose knobs the partitioning's regions set (default: the operating point's).
    return_hits : bool
        Keep each image's outcome (:attr:`Evaluation.hits`), for paired comparisons.
    """
    parts = parse_in_memory(in_memory)
    check_labels(net, labels)
    memory_seed = seed if chip_seed is None else chip_seed
    mem: Any
    if partitioning is not None and not partitioning.trivial:
        if profile is None and isinstance(rates, OperatingPoint):
            from memsim.profile import load_profile

            profile = load_profile(rates.profile)
        mem = PartitionedMemory(
            partitioning, fault_model, seed=memory_seed, profile=profile, word_bits=word_bits(net), **fault_options
        )
    else:
        mem = ApproximateMemory(fault_model, seed=memory_seed, **fault_options)
    apply_rates(mem, rates)
    per_layer: list[list[str]] = [[] for _ in net.layers]
    if "weights" in parts:
        for i, name in enumerate(net.store_weights(mem)):
            per_layer[i].append(name)
    if "thresholds" in parts:
        hidden = [i for i, layer in enumerate(net.layers) if layer.threshold is not None]
        for i, name in zip(hidden, net.store_thresholds(mem, dtype=threshold_dtype), strict=True):
            per_layer[i].append(name)  # a layer's fetch brings its thresholds with its weights
    if isinstance(mem, PartitionedMemory):
        partitioning = mem.partitioning
        partitioning.check_names(mem.names)
    start = time.perf_counter()
    predicted = net.predict(
        images,
        memory=mem,
        granularity=granularity,
        seed=seed,
        batch_size=batch_size,
        first_index=first_index,
        in_memory=parts,
    )
    seconds = time.perf_counter() - start
    labels = np.asarray(labels)
    hits = predicted == labels
    correct = int(np.count_nonzero(hits))
    batch_counts: tuple[tuple[int, int, int], ...] = ()
    if parse_granularity(granularity) == ReadGranularity.PER_BATCH and hits.size:
        batch_of = (int(first_index) + np.arange(hits.size)) // int(batch_size)
        ids, firsts = np.unique(batch_of, return_index=True)
        sums = np.add.reduceat(hits.astype(np.int64), firsts)
        sizes = np.diff(np.append(firsts, hits.size))
        batch_counts = tuple((int(b), int(c), int(m)) for b, c, m in zip(ids, sums, sizes, strict=True))
    n = int(labels.size)
    low, high = wilson_interval(correct, n)
    c = mem.totals
    regions: tuple[tuple[str, tuple[int, ...]], ...] = ()
    detected_units = 0
    if isinstance(mem, PartitionedMemory):
        regions = tuple(
            (name, (rc.bits_read, rc.check_bits_read, rc.codewords, rc.decode.raw_flips, rc.decode.corrected,
                    rc.decode.detected, rc.decode.silent, rc.bits_stored, mem.arrays_in(name)))
            for name, rc in mem.region_counts().items()
        )  # fmt: skip
        detected_units = len(mem.detected_events)
    return Evaluation(
        accuracy=correct / n if n else math.nan,
        ci_low=low,
        ci_high=high,
        n_images=n,
        ber=mem.ber,
        p01=mem.p01,
        p10=mem.p10,
        fault_model=mem.fault_model.name,
        granularity=granularity,
        read_energy_pj_per_image=None if c.read_energy_pj is None or not n else c.read_energy_pj / n,
        reads=c.reads,
        bits_read=c.bits_read,
        bits_flipped=c.bits_flipped,
        seconds=seconds,
        seed=seed,
        correct=correct,
        layer_bits_read=tuple(sum(mem.counter_for(name).bits_read for name in names) for names in per_layer),
        in_memory=in_memory_label(parts),
        chip_seed=chip_seed,
        batch_counts=batch_counts,
        regions=regions,
        detected_units=detected_units,
        hits=hits if return_hits else None,
    )


def word_bits(net: Any) -> dict[str, int]:
    """Bits per stored word of a network's packed arrays (an m-bit network's codes), by array name."""
    layers = getattr(net, "layers", [])
    if layers and hasattr(layers[0], "q"):
        return {name: int(layer.q.bits) for name, layer in zip(net.weight_names(), layers, strict=True)}
    return {}
