from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.places.service import invalidate_cache


@pytest.fixture(autouse=True)
def _fresh_places_index() -> Iterator[None]:
    """The per-process index must not carry one test's rolled-back places into the next."""
    invalidate_cache()
    yield
    invalidate_cache()
