"""Coverage of the intervals over their units of randomness: chips (stuck cells) and batches (one pattern each).

Synthetic outcomes with a known mean: a chip (or batch) draws its own accuracy around the truth, then its images
are Bernoulli given it. The unit's interval covers the truth about 95 % of the time; a Wilson interval over all
images treats them as independent and falls far short.
"""

from __future__ import annotations

import numpy as np

from memsim.experiment.stats import cluster_interval, wilson_interval

TRUTH, SPREAD = 0.84, 0.03  # mean accuracy over chips, and the chip-to-chip sd (as measured: 0.77-0.86)


def coverage(units: int, images: int, method: str, repeats: int = 1500, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    hit_unit = hit_wilson = 0
    for _ in range(repeats):
        p = np.clip(rng.normal(TRUTH, SPREAD, units), 0, 1)
        correct = rng.binomial(images, p)
        ci = cluster_interval(correct.tolist(), [images] * units, method)
        hit_unit += ci.low <= TRUTH <= ci.high
        low, high = wilson_interval(int(correct.sum()), units * images)
        hit_wilson += low <= TRUTH <= high
    return hit_unit / repeats, hit_wilson / repeats


def test_t_over_chips_covers_where_wilson_over_images_does_not():
    for chips in (3, 5, 20):
        unit, wilson = coverage(chips, 2000, "t-chips")
        print(f"{chips} chips x 2000 images: t over chips covers {unit:.3f}, Wilson over images {wilson:.3f}")
        assert 0.93 <= unit <= 0.97  # 1500 repeats: +-0.011 binomial sd around 0.95
        assert wilson < 0.6


def test_t_over_batches_covers():
    unit, wilson = coverage(3 * 40, 256, "t-batches", repeats=1000, seed=1)  # 3 trials x 40 batches of 256
    print(f"120 batches x 256 images: t over batches covers {unit:.3f}, Wilson over images {wilson:.3f}")
    assert 0.93 <= unit <= 0.97
    assert wilson < 0.85
