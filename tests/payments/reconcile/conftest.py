"""Fixtures of the reconciliation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.payments.reconcile.books import Committed


@pytest.fixture
def committed(engine: Engine) -> Iterator[Committed]:
    data = Committed(engine)
    yield data
    data.remove()
