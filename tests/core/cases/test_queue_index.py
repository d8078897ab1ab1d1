"""The expression index of the default queue order is usable by the query the console runs.

The index (migration ``console_indexes``) repeats ``core.cases.listing.deadline_key()`` as SQL text;
if the two drift apart, PostgreSQL silently falls back to sorting the whole table. This test fails
instead: the planner, with sequential scans discouraged, must pick the index for that ORDER BY.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col

from core.cases.listing import deadline_key
from core.models import Case
from tests.conftest import TEST_BACKEND

pytestmark = pytest.mark.skipif(TEST_BACKEND != "postgresql", reason="a PostgreSQL expression index")


def test_the_default_queue_order_uses_the_current_deadline_index(session: Session) -> None:
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    session.execute(sa.text("SET LOCAL enable_sort = off"))
    query = sa.select(col(Case.id)).order_by(deadline_key(), col(Case.id)).limit(50)
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(row[0] for row in session.execute(sa.text(f"EXPLAIN {compiled}")))
    assert "ix_case_current_due_at_id" in plan, plan
