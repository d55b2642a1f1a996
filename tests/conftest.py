"""Shared fixtures (helpers live in tests/helpers.py, importable as ``helpers``)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import make_profile_data


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Benchmarks run only when ``-m`` names them (``pytest -m benchmark``), whatever else ``-m`` says.

    So ``pytest`` is the full suite (slow tests included) and ``pytest -m "not slow"`` the fast tier,
    and neither times the benchmarks (a ``-m`` on the command line replaces one in ``addopts``).
    """
    if "benchmark" in (config.option.markexpr or ""):
        return
    keep = [item for item in items if item.get_closest_marker("benchmark") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


@pytest.fixture
def profile_data() -> dict[str, Any]:
    """A fresh copy of the minimal valid profile data."""
    return make_profile_data()
