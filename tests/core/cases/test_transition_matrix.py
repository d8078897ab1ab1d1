"""Every action from every state, and every role for every action: allowed moves work, all others
are refused with ``illegal_transition`` (wrong state) or ``action_forbidden`` (wrong role)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import Session

from core.cases.errors import ActionForbidden, IllegalTransition
from core.cases.service import ActionInput, perform
from core.cases.workflow import RULES, Action
from core.models import CaseStatus, RequestKind, StaffRole, StaffUser
from tests.core.cases.conftest import MakeCase
from tests.fixtures.cases import City

REQUESTS_FOR = {
    Action.APPROVE_EXTENSION: (RequestKind.EXTENSION,),
    Action.REJECT_EXTENSION: (RequestKind.EXTENSION,),
    Action.APPROVE_SUSPENSION: (RequestKind.SUSPENSION,),
    Action.REJECT_SUSPENSION: (RequestKind.SUSPENSION,),
}


def valid_input(city: City, actor: StaffUser, action: Action, make_case: MakeCase) -> ActionInput:
    target = make_case(CaseStatus.REGISTERED) if action is Action.MERGE else None
    return ActionInput(
        note="已处理",
        reason="测试原因",
        register_standard_id=city.manhole_loose.id,
        department_code=city.municipal.code,
        upload_ids=(city.upload(actor),),
        amount=Decimal(1),
        passed=True,
        target_case_no=target.case_no if target else None,
        supervisor_id=city.staff[StaffRole.SUPERVISOR].id,
    )


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("status", list(CaseStatus))
def test_each_action_from_each_state(
    session: Session, city: City, make_case: MakeCase, action: Action, status: CaseStatus
) -> None:
    rule = RULES[action]
    actor = city.staff[next(iter(sorted(rule.roles)))]
    case = make_case(status, requests=REQUESTS_FOR.get(action, ()))
    data = valid_input(city, actor, action, make_case)
    if status in rule.sources:
        result = perform(session, city.settings, case_no=case.case_no, actor=actor, action=action, data=data)
        assert result.version > 1 or action is Action.URGE or result.status is not status
    else:
        with pytest.raises(IllegalTransition) as info:
            perform(session, city.settings, case_no=case.case_no, actor=actor, action=action, data=data)
        assert info.value.code == "illegal_transition"
        assert info.value.details == {"status": status.value, "action": action.value}


@pytest.mark.parametrize("role", list(StaffRole))
@pytest.mark.parametrize("action", list(Action))
def test_each_role_for_each_action(
    session: Session, city: City, make_case: MakeCase, action: Action, role: StaffRole
) -> None:
    rule = RULES[action]
    source = sorted(rule.sources)[0]
    case = make_case(source, requests=REQUESTS_FOR.get(action, ()))
    actor = city.staff[role]
    data = valid_input(city, actor, action, make_case)
    if role in rule.roles:
        perform(session, city.settings, case_no=case.case_no, actor=actor, action=action, data=data)
    else:
        with pytest.raises(ActionForbidden):
            perform(session, city.settings, case_no=case.case_no, actor=actor, action=action, data=data)


def test_a_handler_of_another_department_may_not_act(
    session: Session, city: City, make_case: MakeCase
) -> None:
    case = make_case(CaseStatus.DISPATCHED)
    stranger = city.staff_member(StaffRole.HANDLER, department=city.sanitation)
    with pytest.raises(ActionForbidden):
        perform(
            session,
            city.settings,
            case_no=case.case_no,
            actor=stranger,
            action=Action.HANDLE,
            data=ActionInput(upload_ids=(city.upload(stranger),)),
        )


def test_a_supervisor_not_assigned_may_not_check(session: Session, city: City, make_case: MakeCase) -> None:
    case = make_case(CaseStatus.CHECKING)
    other = city.staff_member(StaffRole.SUPERVISOR)
    with pytest.raises(ActionForbidden):
        perform(
            session,
            city.settings,
            case_no=case.case_no,
            actor=other,
            action=Action.CHECK,
            data=ActionInput(passed=True),
        )


def test_staff_outside_their_area_may_not_act(session: Session, city: City, make_case: MakeCase) -> None:
    other_street = city.factory.area_tree("360502", "009", "001")
    operator = city.staff_member(StaffRole.OPERATOR)
    operator.area_id = other_street.parent_id
    session.add(operator)
    case = make_case(CaseStatus.PENDING)
    with pytest.raises(ActionForbidden):
        perform(
            session,
            city.settings,
            case_no=case.case_no,
            actor=operator,
            action=Action.ACCEPT,
            data=ActionInput(),
        )
