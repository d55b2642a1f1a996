"""Shared fixtures (helpers live in tests/helpers.py, importable as ``helpers``)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import make_profile_data


@pytest.fixture
def profile_data() -> dict[str, Any]:
    """A fresh copy of the minimal valid profile data."""
    return make_profile_data()
