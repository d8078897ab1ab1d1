"""Reward points: awarded once per registration, bonus for the first report, daily cap, reversed when
merged; redemptions never go below zero, never oversell, and are idempotent."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.cases.service import ActionInput, perform
from core.cases.workflow import Action
from core.errors import Conflict, Forbidden, Invalid
from core.kit.clock import utcnow
from core.models import Case, CaseStatus, Citizen, StaffRole
from core.models.rewards import RedemptionStatus, RewardItem, RewardItemKind
from core.rewards import repository
from core.rewards import service as rewards
from tests.fixtures.cases import City, MakeCase


def register(city: City, case: Case) -> None:
    perform(
        city.session,
        city.settings,
        case_no=case.case_no,
        actor=city.staff[StaffRole.OPERATOR],
        action=Action.REGISTER,
        data=ActionInput(register_standard_id=city.manhole_loose.id),
    )


def reporter(session: Session, case: Case) -> Citizen:
    citizen = session.get(Citizen, case.reporter_citizen_id)
    assert citizen is not None
    return citizen


def item(session: Session, *, cost: int = 10, stock: int = 5, code: str = "HF10") -> RewardItem:
    reward = RewardItem(
        code=code, name="10元话费", kind=RewardItemKind.PHONE_CREDIT, points_cost=cost, stock=stock
    )
    session.add(reward)
    session.flush()
    return reward


def test_registration_pays_once_with_first_report_bonus(
    session: Session, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.ACCEPTED)
    register(city, case)
    citizen_id = reporter(session, case).id
    assert citizen_id is not None
    assert repository.balance(session, citizen_id) == 15  # 10 + first-report bonus 5
    assert rewards.award_for_registration(session, city.settings, case, now=utcnow()) == 0  # a retry
    assert repository.balance(session, citizen_id) == 15


def test_the_same_problem_reported_again_earns_no_bonus(
    session: Session, city: City, make_case: MakeCase
) -> None:
    first, second = make_case(CaseStatus.ACCEPTED), make_case(CaseStatus.ACCEPTED)
    register(city, first)
    register(city, second)
    second_id = reporter(session, second).id
    assert second_id is not None
    assert repository.balance(session, second_id) == 10


def test_daily_cap(session: Session, city: City, make_case: MakeCase) -> None:
    citizen = city.citizen()
    for _ in range(6):
        case = make_case(CaseStatus.ACCEPTED)
        case.reporter_citizen_id = citizen.id
        session.add(case)
        register(city, case)
    assert citizen.id is not None
    assert repository.balance(session, citizen.id) == city.settings.rewards.daily_cap_points


def test_a_merged_registration_gives_its_points_back(
    session: Session, city: City, make_case: MakeCase
) -> None:
    original, duplicate = make_case(CaseStatus.REGISTERED), make_case(CaseStatus.ACCEPTED)
    register(city, duplicate)
    citizen_id = reporter(session, duplicate).id
    assert citizen_id is not None
    assert repository.balance(session, citizen_id) > 0
    perform(
        session,
        city.settings,
        case_no=duplicate.case_no,
        actor=city.staff[StaffRole.OPERATOR],
        action=Action.MERGE,
        data=ActionInput(target_case_no=original.case_no),
    )
    assert repository.balance(session, citizen_id) == 0


def test_redemption_rules(session: Session, city: City, make_case: MakeCase) -> None:
    case = make_case(CaseStatus.ACCEPTED)
    register(city, case)
    citizen = reporter(session, case)
    assert citizen.id is not None
    reward = item(session, cost=5, stock=1)
    expensive = item(session, cost=1000, code="YHQ500")
    with pytest.raises(Invalid) as info:
        rewards.redeem(session, citizen=citizen, item_code=expensive.code, idempotency_key="redeem-000001")
    assert info.value.code == "insufficient_points"
    redemption, created = rewards.redeem(
        session, citizen=citizen, item_code=reward.code, idempotency_key="redeem-000002"
    )
    again, created_again = rewards.redeem(
        session, citizen=citizen, item_code=reward.code, idempotency_key="redeem-000002"
    )
    assert created
    assert not created_again
    assert again.id == redemption.id
    assert repository.balance(session, citizen.id) == 10
    with pytest.raises(Conflict) as out:
        rewards.redeem(session, citizen=citizen, item_code=reward.code, idempotency_key="redeem-000003")
    assert out.value.code == "out_of_stock"
    assert redemption.id is not None
    with pytest.raises(Forbidden):
        rewards.refund(session, staff=city.staff[StaffRole.OPERATOR], redemption_id=redemption.id)
    refunded = rewards.refund(session, staff=city.staff[StaffRole.ADMIN], redemption_id=redemption.id)
    assert refunded.status is RedemptionStatus.REFUNDED
    assert repository.balance(session, citizen.id) == 15
    session.refresh(reward)
    assert reward.stock == 1
    with pytest.raises(Conflict):
        rewards.fulfil(session, staff=city.staff[StaffRole.ADMIN], redemption_id=redemption.id)
