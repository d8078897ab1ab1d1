"""「我也遇到」: a citizen follows an open public case instead of filing a duplicate. Followers are told
like the reporter, and staff see how many people are waiting for the case."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.cases import repository
from core.cases.errors import CaseNotFound
from core.cases.service import flush, get_case, record_event
from core.cases.workflow import OPEN_STATUSES
from core.errors import Invalid
from core.models import Case, Citizen
from core.models.cases import CaseFollower


def _followable(session: Session, case_no: str) -> Case:
    case = get_case(session, case_no)
    if not case.is_public:
        raise CaseNotFound(case_no)  # a private case does not exist for other citizens
    return case


def follow(session: Session, *, citizen: Citizen, case_no: str) -> tuple[Case, bool]:
    """Follow a case; following again changes nothing. Returns (case, newly followed)."""
    case = _followable(session, case_no)
    assert case.id is not None
    assert citizen.id is not None
    if case.reporter_citizen_id == citizen.id:
        raise Invalid("own_report", "这是您自己上报的问题，无需再关注")
    if repository.is_follower(session, case.id, citizen.id):
        return case, False
    if case.status not in OPEN_STATUSES:
        raise Invalid("case_not_open", "该问题已办结或已关闭，无法关注")
    try:
        with session.begin_nested():
            session.add(CaseFollower(case_id=case.id, citizen_id=citizen.id))
    except IntegrityError:  # a concurrent request of the same citizen won
        return case, False
    record_event(
        session, case, action="follow", actor=citizen, from_status=case.status, note="市民表示“我也遇到”"
    )
    flush(session)
    return case, True


def unfollow(session: Session, *, citizen: Citizen, case_no: str) -> None:
    case = _followable(session, case_no)
    assert case.id is not None
    assert citizen.id is not None
    follower = repository.follower(session, case.id, citizen.id)
    if follower is not None:
        session.delete(follower)
        flush(session)


def can_view(session: Session, *, citizen: Citizen, case: Case) -> bool:
    """The reporter and the followers see the citizen view of a case."""
    assert case.id is not None
    assert citizen.id is not None
    return case.reporter_citizen_id == citizen.id or repository.is_follower(session, case.id, citizen.id)
