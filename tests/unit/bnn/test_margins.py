"""Margins: Theorem 1, Corollaries 1-2 as properties, and importance against brute force."""

from __future__ import annotations

import functools

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from memsim.bnn import BNN  # noqa: E402
from memsim.bnn.margins import margin_report, neuron_importance, neuron_margins, output_margins, tolerated_flips  # noqa: E402

pytestmark = pytest.mark.jit  # FCNN-sized hypothesis properties: minutes in pure Python

NET = BNN.random("fashion-fcnn", seed=3)
IMAGES = np.random.default_rng(0).integers(0, 256, (24, 28, 28), dtype=np.uint8)


@functools.cache
def hidden() -> list[np.ndarray]:
    """Clean pre-activations of every layer (computed on first use, not at collection)."""
    return NET.hidden(IMAGES)


def with_flips(net: BNN, layer: int, positions: list[int]) -> BNN:
    """A copy of ``net`` whose layer ``layer`` has the weight bits at ``positions`` flipped."""
    words = net.layers[layer].weights.copy()
    for pos in positions:
        words[pos // 64] ^= np.uint64(1) << np.uint64(pos % 64)
    layers = list(net.layers)
    old = layers[layer]
    layers[layer] = type(old)(**{**old.__dict__, "weights": words})
    return BNN(net.arch, net.input_shape, net.input_threshold, layers, dict(net.metadata))


def test_tolerated_flips_formula():
    h = np.array([10, 11, 4, 3, 3, -7])
    s = np.array([2, 2, 4, 3, 5, -1])
    # h > s: max(0, floor(T/2) - 1); h <= s: floor(T/2)
    np.testing.assert_array_equal(tolerated_flips(h, s), [3, 3, 0, 0, 1, 3])
    # exact: ceil(T/2) - 1 when firing, one more than the bound for odd T (h=11, s=2: 4 flips leave h=3 > 2)
    np.testing.assert_array_equal(tolerated_flips(h, s, exact=True), [3, 4, 0, 0, 1, 3])


def test_exact_tolerance_is_exact_by_brute_force():
    """Worst case: every flip lowers h by 2 (firing) or raises it by 2 (silent); the exact count is the largest
    k whose worst case keeps the decision, and k + 1 flips can change it."""
    for h in range(-9, 10):
        for s in range(-9, 10):
            k = int(tolerated_flips(np.array([h]), s, exact=True)[0])
            step = -2 if h > s else 2
            fires = h > s
            assert all(((h + step * j) > s) == fires for j in range(k + 1)), (h, s, k)
            assert ((h + step * (k + 1)) > s) != fires or h == s, (h, s, k)
            assert k >= int(tolerated_flips(np.array([h]), s)[0])


def test_one_input_flip_can_move_the_output_margin_by_four():
    """Corollary 2 covers weight flips only: an input bit feeds every class, so one flip moves each h by 2."""
    w = np.array([[1, 1], [0, 1]], dtype=bool)  # class 0 weights (+1, +1), class 1 (-1, +1)
    x = np.array([1, 1], dtype=bool)
    sign = lambda b: 2 * b.astype(int) - 1  # noqa: E731
    h = sign(w) @ sign(x)  # [2, 0]
    x2 = x.copy()
    x2[0] = False
    h2 = sign(w) @ sign(x2)  # [0, 2]
    assert (h[0] - h[1]) - (h2[0] - h2[1]) == 4


@settings(max_examples=40, deadline=None)
@given(layer=st.integers(0, 2), neuron=st.integers(0, 9), column=st.integers(0, 783))
def test_theorem1_one_weight_flip_moves_h_by_exactly_two(layer, neuron, column):
    n_in = NET.layers[layer].n_in
    column %= n_in
    flipped = with_flips(NET, layer, [neuron * n_in + column])
    before = hidden()[layer]
    after = flipped.hidden(IMAGES)[layer]
    diff = after - before
    assert np.all(np.abs(diff[:, neuron]) == 2), diff[:, neuron]
    others = np.delete(diff, neuron, axis=1)
    assert not others.any(), "only the flipped neuron's h moves"


@settings(max_examples=40, deadline=None)
@given(image=st.integers(0, 23), data=st.data())
def test_corollary2_tolerated_flips_never_change_the_prediction(image, data):
    out = output_margins(NET, IMAGES[image : image + 1])
    q = int(out.tolerated[0])
    n_out, n_in = NET.layers[-1].n_out, NET.layers[-1].n_in
    positions = data.draw(st.lists(st.integers(0, n_out * n_in - 1), min_size=q, max_size=q, unique=True))
    flipped = with_flips(NET, 2, positions)
    assert flipped.predict(IMAGES[image : image + 1])[0] == out.predicted[0]


def test_corollary2_adversarial_placement_of_half_m_flips_reaches_a_tie():
    """Flipping ceil(m/2) well-chosen weights closes the margin; one more changes the prediction."""
    h = NET.forward(IMAGES)
    layer = NET.layers[-1]
    x = np.where(hidden()[1] > NET.layers[1].threshold, 1, -1)
    x = np.where(NET.layers[1].invert, -x, x)
    w = np.where(np.unpackbits(layer.weights.view(np.uint8), count=layer.nbits, bitorder="little") == 1, 1, -1)
    w = w.reshape(layer.n_out, layer.n_in)
    for b in range(len(IMAGES)):
        order = np.argsort(-h[b], kind="stable")
        top, second = int(order[0]), int(order[1])
        m = int(h[b, top] - h[b, second])
        q = -(-m // 2)  # ceil(m / 2)
        # Each flip of an agreeing top weight lowers h_top by 2; of a disagreeing runner-up weight raises h_second by 2.
        agree_top = [top * layer.n_in + j for j in np.nonzero(w[top] * x[b] == 1)[0]]
        disagree_second = [second * layer.n_in + j for j in np.nonzero(w[second] * x[b] == -1)[0]]
        plan = (agree_top[: (q + 1) // 2] + disagree_second)[:q]
        hit = with_flips(NET, 2, plan).forward(IMAGES[b : b + 1])[0]
        assert hit[top] - hit[second] <= 0, (m, q)
        extra = (agree_top[: (q + 2) // 2] + disagree_second)[: q + 1]
        assert with_flips(NET, 2, extra).predict(IMAGES[b : b + 1])[0] != top, (m, q)


@settings(max_examples=30, deadline=None)
@given(image=st.integers(0, 23), neuron=st.integers(0, 2047), data=st.data())
def test_corollary1_tolerated_flips_never_change_a_hidden_neuron(image, neuron, data):
    layer = NET.layers[1]
    margins = neuron_margins(NET, IMAGES[image : image + 1])[1]
    q = int(margins.tolerated[0, neuron])
    positions = data.draw(st.lists(st.integers(0, layer.n_in - 1), min_size=q, max_size=q, unique=True))
    flipped = with_flips(NET, 1, [neuron * layer.n_in + p for p in positions])
    before = hidden()[1][image, neuron] > layer.threshold[neuron]
    after = flipped.hidden(IMAGES[image : image + 1])[1][0, neuron] > layer.threshold[neuron]
    assert before == after


@pytest.mark.parametrize("layer", [0, 1])
def test_importance_equals_brute_force(layer):
    imgs = IMAGES[:6]
    got = neuron_importance(NET, imgs, layer).importance
    h = NET.forward(imgs)
    top = np.argmax(h, axis=1)

    def decision_margin(hh):
        rest = hh.astype(float).copy()
        rest[np.arange(len(top)), top] = -np.inf
        return hh[np.arange(len(top)), top] - rest.max(axis=1)

    base = decision_margin(h)
    n = NET.layers[layer].n_out
    for j in range(0, n, 97):  # a spread of neurons
        flipped = NET.layers[layer]
        layers = list(NET.layers)
        inv = flipped.invert.copy()
        inv[j] = ~inv[j]  # inverting the comparison inverts exactly this neuron's output
        layers[layer] = type(flipped)(**{**flipped.__dict__, "invert": inv})
        alt = BNN(NET.arch, NET.input_shape, NET.input_threshold, layers).forward(imgs)
        assert got[j] == pytest.approx(np.mean(base - decision_margin(alt))), j


def test_margin_report_summaries():
    report = margin_report(NET, IMAGES[:8], labels=np.zeros(8, np.uint8))
    data = report.to_dict()
    assert [m["layer"] for m in data["hidden_layers"]] == [0, 1]
    assert data["output"]["count"] == 8 and 0.0 <= data["accuracy"] <= 1.0
    assert [imp["layer"] for imp in data["importance"]] == [0, 1]
    assert report.importance[0].variance >= 0.0
