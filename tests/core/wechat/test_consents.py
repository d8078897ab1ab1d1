"""Counting one-time subscribe consents."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.models import Citizen
from core.wechat import consents
from core.wechat.consents import Choice

A, B = "tmpl-a", "tmpl-b"


@pytest.fixture
def citizen_id(session: Session) -> int:
    person = Citizen(openid="o-consents")
    session.add(person)
    session.flush()
    assert person.id is not None
    return person.id


def record(session: Session, citizen_id: int, choices: dict[str, Choice], cap: int = 50) -> dict[str, int]:
    return consents.record(session, citizen_id=citizen_id, choices=choices, template_ids=[A, B], cap=cap)


def test_each_accept_allows_one_message(session: Session, citizen_id: int) -> None:
    record(session, citizen_id, {A: Choice.ACCEPT, B: Choice.REJECT})
    assert record(session, citizen_id, {A: Choice.ACCEPT}) == {A: 2}
    assert consents.spend(session, citizen_id=citizen_id, template_id=A)
    assert consents.spend(session, citizen_id=citizen_id, template_id=A)
    assert not consents.spend(session, citizen_id=citizen_id, template_id=A)
    assert not consents.spend(session, citizen_id=citizen_id, template_id=B)
    assert consents.available(session, citizen_id) == {A: 0}


def test_templates_we_do_not_use_are_ignored(session: Session, citizen_id: int) -> None:
    assert (
        consents.record(
            session, citizen_id=citizen_id, choices={"other": Choice.ACCEPT}, template_ids=[A], cap=50
        )
        == {}
    )


def test_ban_zeroes_and_the_count_is_capped(session: Session, citizen_id: int) -> None:
    for _ in range(4):
        record(session, citizen_id, {A: Choice.ACCEPT}, cap=3)
    assert consents.available(session, citizen_id) == {A: 3}
    assert record(session, citizen_id, {A: Choice.BAN}) == {A: 0}


def test_give_back_and_exhaust(session: Session, citizen_id: int) -> None:
    record(session, citizen_id, {A: Choice.ACCEPT})
    assert consents.spend(session, citizen_id=citizen_id, template_id=A)
    consents.give_back(session, citizen_id=citizen_id, template_id=A)
    assert consents.available(session, citizen_id) == {A: 1}
    consents.exhaust(session, citizen_id=citizen_id, template_id=A)
    assert consents.available(session, citizen_id) == {A: 0}
