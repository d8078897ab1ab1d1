"""Staff accounts managed by administrators: create, edit, reset passwords, disable/enable, supervisors'
responsibility grids, and CSV export/import.

Every change writes an audit entry in the same transaction (``detail`` names the changed fields, never a
password). Services never commit. An administrator cannot disable or demote their own account, and the
last active administrator cannot be disabled or demoted, so the console can never be locked out.

Queries of this module are at the bottom (the "queries" section), kept apart from the rules.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from core.audit import service as audit
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.kit.clock import utcnow
from core.kit.text import CONTROL_CHARACTERS
from core.masterdata.errors import ErrorCollector
from core.masterdata.readers import SourceFile, csv_rows
from core.models import AdminArea, Department, ResponsibilityGrid, StaffRole, StaffUser, SupervisorGrid
from core.staff import repository, sessions
from core.staff import service as staff_service
from core.staff.passwords import hash_password

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,31}")
USERNAME_HINT = "3–32 位字母、数字、点、下划线或连字符，以字母或数字开头"
PHONE_PATTERN = re.compile(r"1\d{10}|0\d{2,3}-?\d{7,8}")
PHONE_HINT = "11 位手机号或带区号的固定电话（如 0790-1234567）"
MAX_DISPLAY_NAME = 64
PASSWORD_RULE = (
    f"至少 {staff_service.MIN_PASSWORD_LENGTH} 位（最多 {staff_service.MAX_PASSWORD_LENGTH} 位），"
    "须同时包含字母和数字，不能包含用户名"
)
TEMPORARY_PASSWORD_LENGTH = 12
# No look-alikes (0/O, 1/l/I) in printed temporary passwords.
_LETTERS = "".join(c for c in string.ascii_letters if c not in "OIl")
_DIGITS = "23456789"
CSV_COLUMNS = ("username", "display_name", "role", "department_code", "area_code", "phone", "active")
IMPORT_REQUIRED = ("username", "display_name", "role")
MAX_IMPORT_ROWS = 2000
ROLE_WORDS: dict[str, StaffRole] = {
    **{role.value: role for role in StaffRole},
    **{role.label: role for role in StaffRole},
}


AGENT_INTERFACE = re.compile(r"[A-Za-z0-9_-]+/[A-Za-z0-9_.@-]{1,56}")

# --------------------------------------------------------------------------- inputs and results


@dataclass(frozen=True)
class AccountFilter:
    role: StaffRole | None = None
    department_id: int | None = None
    area_id: int | None = None
    city_wide: bool = False  # only accounts without an area (the whole city)
    active: bool | None = None
    text: str = ""


@dataclass(frozen=True)
class AccountData:
    """What an administrator enters for an account (the username only when creating)."""

    display_name: str
    role: StaffRole
    department_id: int | None = None
    area_id: int | None = None
    phone: str = ""
    agent_interface: str = ""  # hotline agents: the Asterisk interface of their phone (screen-pop)


@dataclass(frozen=True)
class Created:
    account: StaffUser
    temporary_password: str  # shown once to the administrator; never stored or logged


@dataclass
class AccountPage:
    rows: list[StaffUser]
    total: int
    departments: dict[int, Department] = field(default_factory=dict)
    areas: dict[int, AdminArea] = field(default_factory=dict)


# --------------------------------------------------------------------------- errors


class AccountNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("account_not_found", "账号不存在")


class SelfLockout(Forbidden):
    def __init__(self, what: str) -> None:
        super().__init__("account_self_lockout", f"不能{what}自己的账号")


class LastAdmin(Conflict):
    def __init__(self, what: str) -> None:
        super().__init__("account_last_admin", f"这是最后一个启用的系统管理员账号，不能{what}")


# --------------------------------------------------------------------------- passwords


def temporary_password(username: str = "") -> str:
    """A random password that satisfies the console's rule (letters and digits, 12 characters)."""
    while True:
        password = "".join(secrets.choice(_LETTERS + _DIGITS) for _ in range(TEMPORARY_PASSWORD_LENGTH))
        if (
            any(c.isdigit() for c in password)
            and any(c.isalpha() for c in password)
            and not (username and username.lower() in password.lower())
        ):
            return password


# --------------------------------------------------------------------------- validation


def _check_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_PATTERN.fullmatch(username):
        raise Invalid("username_invalid", f"用户名格式不正确，应为{USERNAME_HINT}")
    return username


def _clean(data: AccountData) -> AccountData:
    """The data with its text trimmed, or an ``Invalid`` naming the first problem."""
    name = data.display_name.strip()
    if not name:
        raise Invalid("display_name_required", "请填写姓名")
    if len(name) > MAX_DISPLAY_NAME or CONTROL_CHARACTERS.search(name):
        raise Invalid("display_name_invalid", f"姓名不能超过 {MAX_DISPLAY_NAME} 个字符，且不能含控制字符")
    phone = data.phone.strip().replace(" ", "")
    if phone and not PHONE_PATTERN.fullmatch(phone):
        raise Invalid("phone_invalid", f"电话号码格式不正确，应为{PHONE_HINT}")
    interface = data.agent_interface.strip()
    if interface and not AGENT_INTERFACE.fullmatch(interface):
        raise Invalid("agent_interface_invalid", "坐席分机格式不正确，应如 PJSIP/8001")
    return AccountData(
        display_name=name,
        role=data.role,
        department_id=data.department_id,
        area_id=data.area_id,
        phone=phone,
        agent_interface=interface,
    )


def _check_interface_free(session: Session, interface: str, account_id: int | None) -> None:
    """One phone rings for one agent: the screen-pop must know whose it is."""
    if not interface:
        return
    holder = repository.by_agent_interface(session, interface)
    if holder is not None and holder.id != account_id:
        raise Conflict("agent_interface_taken", f"坐席分机 {interface} 已分配给 {holder.display_name}")


def _check_links(session: Session, data: AccountData) -> None:
    if data.role is StaffRole.HANDLER and data.department_id is None:
        raise Invalid("department_required", "处置人员必须属于一个专业部门")
    if data.department_id is not None:
        department = repository.department_by_id(session, data.department_id)
        if department is None or not department.active:
            raise Invalid("department_invalid", "所选部门不存在或已停用")
    if data.area_id is not None and repository.area_by_id(session, data.area_id) is None:
        raise Invalid("area_invalid", "所选区域不存在")


def _detail_value(name: str, value: Any) -> Any:
    if name == "phone":
        return "（已修改）"  # a phone number is personal data: the audit log only says it changed
    return value.value if isinstance(value, StaffRole) else value


# --------------------------------------------------------------------------- services


def get(session: Session, account_id: int) -> StaffUser:
    account = session.get(StaffUser, account_id)
    if account is None:
        raise AccountNotFound()
    return account


def create(
    session: Session,
    *,
    actor: StaffUser,
    username: str,
    data: AccountData,
    password: str | None = None,
    client_ip: str = "",
    via: str = "form",
) -> Created:
    """A new account with a temporary password (given, or generated): changed at the first sign-in."""
    username = _check_username(username)
    data = _clean(data)
    _check_links(session, data)
    _check_interface_free(session, data.agent_interface, None)
    password = password or temporary_password(username)
    staff_service.check_new_password(username, password)
    if repository.by_username(session, username) is not None:
        raise Conflict("username_taken", f"用户名“{username}”已存在")
    account = StaffUser(
        username=username,
        display_name=data.display_name,
        role=data.role,
        department_id=data.department_id,
        area_id=data.area_id,
        phone=data.phone,
        agent_interface=data.agent_interface,
        password_hash=hash_password(password),
        must_change_password=True,
    )
    session.add(account)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="account_created",
        target_kind="staff",
        target_id=account.id,
        detail={
            "username": username,
            "role": data.role.value,
            "department_id": data.department_id,
            "area_id": data.area_id,
            "via": via,
        },
        client_ip=client_ip,
    )
    return Created(account, password)


def update(
    session: Session, *, actor: StaffUser, account: StaffUser, data: AccountData, client_ip: str = ""
) -> list[str]:
    """Change name, role, department, area and phone; returns the names of the changed fields."""
    data = _clean(data)
    _check_links(session, data)
    if account.role is StaffRole.ADMIN and data.role is not StaffRole.ADMIN:
        if account.id == actor.id:
            raise SelfLockout("降低")
        if account.active and _other_active_admins(session, account) == 0:
            raise LastAdmin("改为其他角色")
    wanted = {
        "display_name": data.display_name,
        "role": data.role,
        "department_id": data.department_id,
        "area_id": data.area_id,
        "phone": data.phone,
        "agent_interface": data.agent_interface,
    }
    _check_interface_free(session, data.agent_interface, account.id)
    changed: dict[str, Any] = {}
    for name, value in wanted.items():
        before = getattr(account, name)
        if before != value:
            changed[name] = [_detail_value(name, before), _detail_value(name, value)]
            setattr(account, name, value)
    if not changed:
        return []
    removed_grids = 0
    if "role" in changed and data.role is not StaffRole.SUPERVISOR:
        assert account.id is not None
        removed_grids = _remove_all_grids(session, account.id)
    account.updated_at = utcnow()
    session.add(account)
    session.flush()
    detail: dict[str, Any] = {"changed": changed}
    if removed_grids:
        detail["grids_unassigned"] = removed_grids
    audit.record(
        session,
        actor=actor,
        action="account_updated",
        target_kind="staff",
        target_id=account.id,
        detail=detail,
        client_ip=client_ip,
    )
    return sorted(changed)


def reset_password(
    session: Session,
    *,
    actor: StaffUser,
    account: StaffUser,
    password: str | None = None,
    client_ip: str = "",
) -> str:
    """An administrator sets a temporary password (given, or generated); the holder must change it at
    the next sign-in, their console sessions end and their bearer tokens stop working."""
    if account.id == actor.id:
        raise SelfLockout("在这里重置")  # one's own password is changed on the password page
    password = password or temporary_password(account.username)
    staff_service.reset_password(session, account, new=password)
    assert account.id is not None
    ended = sessions.revoke_all(session, account.id)
    audit.record(
        session,
        actor=actor,
        action="password_reset",
        target_kind="staff",
        target_id=account.id,
        detail={"sessions_ended": ended},
        client_ip=client_ip,
    )
    return password


def set_active(
    session: Session, *, actor: StaffUser, account: StaffUser, active: bool, client_ip: str = ""
) -> bool:
    """Disable or enable an account; True when it changed. Disabling ends its console sessions and
    invalidates its bearer tokens."""
    if account.active == active:
        return False
    assert account.id is not None
    ended = 0
    if not active:
        if account.id == actor.id:
            raise SelfLockout("停用")
        if account.role is StaffRole.ADMIN and _other_active_admins(session, account) == 0:
            raise LastAdmin("停用")
        ended = sessions.revoke_all(session, account.id)
        account.token_version += 1
        account.on_duty = False
    account.active = active
    account.updated_at = utcnow()
    session.add(account)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="account_disabled" if not active else "account_enabled",
        target_kind="staff",
        target_id=account.id,
        detail={"sessions_ended": ended} if not active else {},
        client_ip=client_ip,
    )
    return True


def assign_grids(
    session: Session, *, actor: StaffUser, account: StaffUser, grid_ids: Sequence[int], client_ip: str = ""
) -> int:
    """Give a supervisor responsibility grids (``core.staff.service.assign_grids``); how many were new."""
    known = _existing_grid_ids(session, grid_ids)
    missing = sorted(set(grid_ids) - known)
    if missing:
        raise Invalid("grid_not_found", "所选责任网格不存在")
    added = staff_service.assign_grids(session, account, sorted(known))
    if added:
        audit.record(
            session,
            actor=actor,
            action="grids_assigned",
            target_kind="staff",
            target_id=account.id,
            detail={"grid_ids": sorted(known), "added": added},
            client_ip=client_ip,
        )
    return added


def unassign_grids(
    session: Session, *, actor: StaffUser, account: StaffUser, grid_ids: Sequence[int], client_ip: str = ""
) -> int:
    assert account.id is not None
    removed = _remove_grids(session, account.id, grid_ids)
    if removed:
        audit.record(
            session,
            actor=actor,
            action="grids_unassigned",
            target_kind="staff",
            target_id=account.id,
            detail={"grid_ids": sorted(set(grid_ids)), "removed": removed},
            client_ip=client_ip,
        )
    return removed


# --------------------------------------------------------------------------- CSV export and import


def export_csv(session: Session) -> str:
    """Every account in the import format (no password hashes), with its active flag."""
    departments = {d.id: d.code for d in _all_departments(session)}
    areas = {a.id: a.code for a in _all_areas(session)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for account in _all_accounts(session):
        writer.writerow(
            [
                account.username,
                account.display_name,
                account.role.value,
                departments.get(account.department_id, "") if account.department_id else "",
                areas.get(account.area_id, "") if account.area_id else "",
                account.phone,
                "true" if account.active else "false",
            ]
        )
    return out.getvalue()


def import_csv(
    session: Session, *, actor: StaffUser, text: str, file_name: str, client_ip: str = ""
) -> list[Created]:
    """New accounts from a CSV file (the export's columns; ``active`` is ignored: new accounts are
    active), each with a generated temporary password. The whole file is checked first and nothing is
    written when any row is wrong (``ImportFailed`` with row and field)."""
    errors = ErrorCollector(file_name)
    departments = {d.code: d for d in _all_departments(session)}
    areas = {a.code: a for a in _all_areas(session)}
    taken = _all_usernames(session)
    source = SourceFile(path=Path(Path(file_name).name or "accounts.csv"), text=text, sha256="")
    parsed: list[tuple[str, AccountData]] = []
    seen: set[str] = set()
    rows = 0
    for row_no, row in csv_rows(source, IMPORT_REQUIRED):
        rows += 1
        if rows > MAX_IMPORT_ROWS:
            errors.add(row_no, None, f"一次最多导入 {MAX_IMPORT_ROWS} 个账号")
            break
        item = _import_row(errors, row_no, row, departments, areas)
        if item is None:
            continue
        username = item[0]
        if username.lower() in taken or username.lower() in seen:
            errors.add(row_no, "username", f"用户名“{username}”已存在")
            continue
        seen.add(username.lower())
        parsed.append(item)
    if not parsed and not errors.errors:
        errors.add(None, None, "文件中没有任何账号")
    errors.raise_if_any()
    created: list[Created] = []
    with session.begin_nested():
        for username, data in parsed:
            created.append(
                create(
                    session,
                    actor=actor,
                    username=username,
                    data=data,
                    client_ip=client_ip,
                    via=file_name[:64],
                )
            )
    return created


def _import_row(
    errors: ErrorCollector,
    row_no: int,
    row: dict[str, str],
    departments: dict[str, Department],
    areas: dict[str, AdminArea],
) -> tuple[str, AccountData] | None:
    before = len(errors.errors)
    username = row["username"]
    if not USERNAME_PATTERN.fullmatch(username):
        errors.add(row_no, "username", f"“{username}”格式不正确，应为{USERNAME_HINT}")
    name = row["display_name"]
    if not name:
        errors.add(row_no, "display_name", "不能为空")
    elif len(name) > MAX_DISPLAY_NAME or CONTROL_CHARACTERS.search(name):
        errors.add(row_no, "display_name", f"不能超过 {MAX_DISPLAY_NAME} 个字符，且不能含控制字符")
    role = ROLE_WORDS.get(row["role"])
    if role is None:
        allowed = "、".join(f"{r.value}（{r.label}）" for r in StaffRole)
        errors.add(row_no, "role", f"“{row['role']}”不是角色（{allowed}）")
    department_code = row.get("department_code", "")
    department = departments.get(department_code) if department_code else None
    if department_code and (department is None or not department.active):
        errors.add(row_no, "department_code", f"部门“{department_code}”不存在或已停用")
    elif role is StaffRole.HANDLER and department is None:
        errors.add(row_no, "department_code", "处置人员必须填写所属部门")
    area_code = row.get("area_code", "")
    area = areas.get(area_code) if area_code else None
    if area_code and area is None:
        errors.add(row_no, "area_code", f"区域“{area_code}”不存在")
    phone = row.get("phone", "").replace(" ", "")
    if phone and not PHONE_PATTERN.fullmatch(phone):
        errors.add(row_no, "phone", f"“{phone}”格式不正确，应为{PHONE_HINT}")
    if len(errors.errors) > before or role is None:
        return None
    return username, AccountData(
        display_name=name,
        role=role,
        department_id=department.id if department else None,
        area_id=area.id if area else None,
        phone=phone,
    )


# --------------------------------------------------------------------------- queries


def search(session: Session, where: AccountFilter, *, limit: int = 50, offset: int = 0) -> AccountPage:
    stmt = select(StaffUser)
    if where.role is not None:
        stmt = stmt.where(col(StaffUser.role) == where.role)
    if where.department_id is not None:
        stmt = stmt.where(col(StaffUser.department_id) == where.department_id)
    if where.city_wide:
        stmt = stmt.where(col(StaffUser.area_id).is_(None))
    elif where.area_id is not None:
        stmt = stmt.where(col(StaffUser.area_id) == where.area_id)
    if where.active is not None:
        stmt = stmt.where(col(StaffUser.active) == where.active)
    text = where.text.strip()
    if text:
        pattern = f"%{_escape_like(text.lower())}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(col(StaffUser.username)).like(pattern, escape="\\"),
                sa.func.lower(col(StaffUser.display_name)).like(pattern, escape="\\"),
            )
        )
    total = int(session.execute(sa.select(sa.func.count()).select_from(stmt.subquery())).scalar_one())
    rows = list(session.exec(stmt.order_by(col(StaffUser.username)).limit(limit).offset(offset)).all())
    return AccountPage(
        rows=rows, total=total, departments=departments_by_id(session), areas=areas_by_id(session)
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def departments_by_id(session: Session) -> dict[int, Department]:
    return {d.id: d for d in _all_departments(session) if d.id is not None}


def areas_by_id(session: Session) -> dict[int, AdminArea]:
    return {a.id: a for a in _all_areas(session) if a.id is not None}


def _all_departments(session: Session) -> list[Department]:
    return list(session.exec(select(Department).order_by(col(Department.code))).all())


def _all_areas(session: Session) -> list[AdminArea]:
    return list(session.exec(select(AdminArea).order_by(col(AdminArea.code))).all())


def _all_accounts(session: Session) -> list[StaffUser]:
    return list(session.exec(select(StaffUser).order_by(col(StaffUser.username))).all())


def _all_usernames(session: Session) -> set[str]:
    return {name.lower() for name in session.exec(select(StaffUser.username)).all()}


def _other_active_admins(session: Session, account: StaffUser) -> int:
    stmt = (
        sa.select(sa.func.count())
        .select_from(StaffUser)
        .where(
            col(StaffUser.role) == StaffRole.ADMIN,
            col(StaffUser.active),
            col(StaffUser.id) != account.id,
        )
    )
    return int(session.execute(stmt).scalar_one())


def grids_of(session: Session, staff_id: int) -> list[ResponsibilityGrid]:
    stmt = (
        select(ResponsibilityGrid)
        .join(SupervisorGrid, col(SupervisorGrid.responsibility_grid_id) == col(ResponsibilityGrid.id))
        .where(col(SupervisorGrid.staff_id) == staff_id)
        .order_by(col(ResponsibilityGrid.code))
    )
    return list(session.exec(stmt).all())


def all_grids(session: Session) -> list[ResponsibilityGrid]:
    return list(session.exec(select(ResponsibilityGrid).order_by(col(ResponsibilityGrid.code))).all())


def _existing_grid_ids(session: Session, grid_ids: Sequence[int]) -> set[int]:
    if not grid_ids:
        return set()
    stmt = select(ResponsibilityGrid.id).where(col(ResponsibilityGrid.id).in_(list(grid_ids)))
    return {grid_id for grid_id in session.exec(stmt).all() if grid_id is not None}


def _remove_grids(session: Session, staff_id: int, grid_ids: Sequence[int]) -> int:
    if not grid_ids:
        return 0
    result = session.execute(
        delete(SupervisorGrid).where(
            col(SupervisorGrid.staff_id) == staff_id,
            col(SupervisorGrid.responsibility_grid_id).in_(list(grid_ids)),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _remove_all_grids(session: Session, staff_id: int) -> int:
    result = session.execute(delete(SupervisorGrid).where(col(SupervisorGrid.staff_id) == staff_id))
    return int(getattr(result, "rowcount", 0) or 0)
