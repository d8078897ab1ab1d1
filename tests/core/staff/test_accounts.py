"""Account rules: temporary passwords, handlers need a department, nobody locks the console out,
disabling ends sessions and tokens, every change is audited without passwords, CSV import is
all-or-nothing."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from core.errors import Conflict, Forbidden, Invalid
from core.masterdata.errors import ImportFailed
from core.models import AuditEntry, StaffRole, StaffUser
from core.settings import get_settings
from core.staff import accounts, sessions
from core.staff.accounts import AccountData
from core.staff.service import authenticate, check_new_password
from tests.fixtures.cases import City


def _actions(session: Session) -> list[AuditEntry]:
    return list(session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all())


def test_temporary_passwords_follow_the_rule() -> None:
    for _ in range(50):
        password = accounts.temporary_password("abc")
        check_new_password("abc", password)
        assert len(password) == accounts.TEMPORARY_PASSWORD_LENGTH


def test_create_hashes_a_temporary_password_and_audits(session: Session, city: City) -> None:
    admin = city.staff[StaffRole.ADMIN]
    created = accounts.create(
        session,
        actor=admin,
        username=" lisi ",
        data=AccountData(display_name=" 李四 ", role=StaffRole.OPERATOR, area_id=city.community.id),
    )
    account = created.account
    assert account.username == "lisi"
    assert account.display_name == "李四"
    assert account.must_change_password
    assert created.temporary_password not in account.password_hash
    assert authenticate(session, username="lisi", password=created.temporary_password) is not None
    entry = _actions(session)[-1]
    assert entry.action == "account_created"
    assert created.temporary_password not in entry.detail


@pytest.mark.parametrize(
    ("username", "data", "code"),
    [
        ("ab", AccountData("甲", StaffRole.OPERATOR), "username_invalid"),
        ("中文名", AccountData("甲", StaffRole.OPERATOR), "username_invalid"),
        ("okname", AccountData("", StaffRole.OPERATOR), "display_name_required"),
        ("okname", AccountData("甲", StaffRole.HANDLER), "department_required"),
        ("okname", AccountData("甲", StaffRole.OPERATOR, phone="123"), "phone_invalid"),
        ("okname", AccountData("甲", StaffRole.OPERATOR, area_id=999_999), "area_invalid"),
        ("okname", AccountData("甲", StaffRole.OPERATOR, department_id=999_999), "department_invalid"),
    ],
)
def test_create_refuses_bad_input(
    session: Session, city: City, username: str, data: AccountData, code: str
) -> None:
    with pytest.raises(Invalid) as caught:
        accounts.create(session, actor=city.staff[StaffRole.ADMIN], username=username, data=data)
    assert caught.value.code == code


def test_usernames_are_unique(session: Session, city: City) -> None:
    with pytest.raises(Conflict):
        accounts.create(
            session,
            actor=city.staff[StaffRole.ADMIN],
            username=city.staff[StaffRole.LEADER].username,
            data=AccountData("甲", StaffRole.OPERATOR),
        )


def test_leaving_the_supervisor_role_drops_the_grids(session: Session, city: City) -> None:
    supervisor = city.staff[StaffRole.SUPERVISOR]
    assert supervisor.id is not None
    assert accounts.grids_of(session, supervisor.id)
    changed = accounts.update(
        session,
        actor=city.staff[StaffRole.ADMIN],
        account=supervisor,
        data=AccountData(supervisor.display_name, StaffRole.OPERATOR),
    )
    assert changed == ["role"]
    assert not accounts.grids_of(session, supervisor.id)
    assert '"grids_unassigned": 1' in _actions(session)[-1].detail


def test_nothing_changed_writes_no_audit(session: Session, city: City) -> None:
    leader = city.staff[StaffRole.LEADER]
    before = len(_actions(session))
    assert (
        accounts.update(
            session,
            actor=city.staff[StaffRole.ADMIN],
            account=leader,
            data=AccountData(leader.display_name, leader.role),
        )
        == []
    )
    assert len(_actions(session)) == before


def test_no_self_lockout(session: Session, city: City) -> None:
    admin = city.staff[StaffRole.ADMIN]
    with pytest.raises(Forbidden):
        accounts.set_active(session, actor=admin, account=admin, active=False)
    with pytest.raises(Forbidden):
        accounts.update(session, actor=admin, account=admin, data=AccountData("x", StaffRole.LEADER))
    with pytest.raises(Forbidden):
        accounts.reset_password(session, actor=admin, account=admin)


def test_the_last_active_admin_stays(session: Session, city: City) -> None:
    """Reachable when the acting account is not (or no longer) an active admin, e.g. a script."""
    for other in session.exec(select(StaffUser).where(col(StaffUser.role) == StaffRole.ADMIN)).all():
        if other.id != city.staff[StaffRole.ADMIN].id:
            other.active = False
    session.flush()
    actor = city.staff[StaffRole.LEADER]
    last = city.staff[StaffRole.ADMIN]
    with pytest.raises(Conflict) as caught:
        accounts.set_active(session, actor=actor, account=last, active=False)
    assert caught.value.code == "account_last_admin"
    with pytest.raises(Conflict):
        accounts.update(session, actor=actor, account=last, data=AccountData("x", StaffRole.OPERATOR))
    second = city.staff_member(StaffRole.ADMIN)
    assert accounts.set_active(session, actor=actor, account=last, active=False)
    assert second.active


def test_disable_ends_sessions_and_tokens(session: Session, city: City) -> None:
    target = city.staff[StaffRole.DISPATCHER]
    settings = get_settings()
    opened = sessions.open_session(session, settings, target)
    version = target.token_version
    assert accounts.set_active(session, actor=city.staff[StaffRole.ADMIN], account=target, active=False)
    assert target.token_version == version + 1
    assert sessions.active(session, settings, opened.token) is None
    assert not accounts.set_active(session, actor=city.staff[StaffRole.ADMIN], account=target, active=False)
    assert _actions(session)[-1].action == "account_disabled"


def test_reset_password_records_no_password(session: Session, city: City) -> None:
    target = city.staff[StaffRole.OPERATOR]
    password = accounts.reset_password(session, actor=city.staff[StaffRole.ADMIN], account=target)
    assert target.must_change_password
    entry = _actions(session)[-1]
    assert entry.action == "password_reset"
    assert password not in entry.detail


def test_assign_unknown_grid_is_refused(session: Session, city: City) -> None:
    with pytest.raises(Invalid):
        accounts.assign_grids(
            session,
            actor=city.staff[StaffRole.ADMIN],
            account=city.staff[StaffRole.SUPERVISOR],
            grid_ids=[999_999],
        )
    with pytest.raises(Invalid):
        accounts.assign_grids(
            session, actor=city.staff[StaffRole.ADMIN], account=city.staff[StaffRole.LEADER], grid_ids=[]
        )


def test_import_reports_every_problem_and_writes_nothing(session: Session, city: City) -> None:
    text = (
        "username,display_name,role,department_code\n"
        "good-one,甲,operator,\n"
        "good-one,乙,operator,\n"
        f"{city.staff[StaffRole.LEADER].username},丙,leader,\n"
        "bad name,丁,boss,NOPE\n"
    )
    with pytest.raises(ImportFailed) as caught:
        accounts.import_csv(session, actor=city.staff[StaffRole.ADMIN], text=text, file_name="staff.csv")
    problems = [(error.row, error.field) for error in caught.value.errors]
    assert (3, "username") in problems
    assert (4, "username") in problems
    assert (5, "username") in problems
    assert (5, "role") in problems
    assert (5, "department_code") in problems
    assert session.exec(select(StaffUser).where(col(StaffUser.username) == "good-one")).first() is None


def test_export_then_import_into_another_city_creates_the_same_accounts(session: Session, city: City) -> None:
    text = accounts.export_csv(session)
    header, *rows = text.splitlines()
    assert header == ",".join(accounts.CSV_COLUMNS)
    renamed = "\n".join([header, *(f"copy-{row}" for row in rows)]) + "\n"
    created = accounts.import_csv(session, actor=city.staff[StaffRole.ADMIN], text=renamed, file_name="a.csv")
    assert len(created) == len(rows)
    handler = next(
        c.account for c in created if c.account.username == f"copy-{city.staff[StaffRole.HANDLER].username}"
    )
    assert handler.department_id == city.municipal.id


def test_agent_interface_is_checked_and_unique(session: Session, city: City) -> None:
    admin = city.staff[StaffRole.ADMIN]
    operator = city.staff[StaffRole.OPERATOR]
    data = accounts.AccountData(
        display_name="坐席甲", role=StaffRole.OPERATOR, agent_interface=" PJSIP/8001 "
    )
    created = accounts.create(session, actor=admin, username="agent-8001", data=data)
    assert created.account.agent_interface == "PJSIP/8001"
    with pytest.raises(Conflict):
        accounts.update(session, actor=admin, account=operator, data=data)
    bad = accounts.AccountData(display_name="坐席乙", role=StaffRole.OPERATOR, agent_interface="8001")
    with pytest.raises(Invalid):
        accounts.update(session, actor=admin, account=operator, data=bad)
