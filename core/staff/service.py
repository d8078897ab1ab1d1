"""Staff accounts: creation, password checks and changes."""

from __future__ import annotations

from sqlmodel import Session

from core.errors import Conflict, Invalid
from core.models import StaffRole, StaffUser
from core.staff import repository
from core.staff.passwords import hash_password, verify_password

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


def create_staff(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: StaffRole,
    password: str,
    department_id: int | None = None,
) -> StaffUser:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("password_too_short", f"密码至少 {MIN_PASSWORD_LENGTH} 位")
    if role is StaffRole.HANDLER and department_id is None:
        raise Invalid("department_required", "处置人员必须属于一个专业部门")
    if repository.by_username(session, username) is not None:
        raise Conflict("username_taken", f"用户名“{username}”已存在")
    user = StaffUser(
        username=username,
        display_name=display_name,
        role=role,
        department_id=department_id,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, username: str, password: str) -> StaffUser | None:
    user = repository.by_username(session, username)
    if user is None or not user.active or not verify_password(user.password_hash, password):
        return None
    return user


def set_duty(
    session: Session, staff: StaffUser, *, on_duty: bool, lng: float | None, lat: float | None
) -> None:
    """A supervisor goes on or off duty and reports where they are (for task assignment)."""
    from core.geo.coords import CoordSystem, to_wgs84
    from core.kit.clock import utcnow

    staff.on_duty = on_duty
    if lng is not None and lat is not None:
        staff.last_lng, staff.last_lat = to_wgs84(lng, lat, CoordSystem.GCJ02)
        staff.last_seen_at = utcnow()
    session.add(staff)
    session.flush()


def assign_grids(session: Session, staff: StaffUser, grid_ids: list[int]) -> int:
    """Give a supervisor responsibility grids to patrol (adds what is missing; returns how many)."""
    from core.models import SupervisorGrid

    if staff.role is not StaffRole.SUPERVISOR:
        raise Invalid("not_a_supervisor", "只有监督员可以分配责任网格")
    assert staff.id is not None
    have = repository.assigned_grid_ids(session, staff.id)
    new = [grid_id for grid_id in grid_ids if grid_id not in have]
    session.add_all(SupervisorGrid(staff_id=staff.id, responsibility_grid_id=grid_id) for grid_id in new)
    session.flush()
    return len(new)


def check_new_password(username: str, password: str) -> None:
    """The console's password rule: long enough, letters and digits, not the username."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("password_too_short", f"密码至少 {MIN_PASSWORD_LENGTH} 位")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid("password_too_long", f"密码最多 {MAX_PASSWORD_LENGTH} 位")
    if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        raise Invalid("password_too_weak", "密码须同时包含字母和数字")
    if username and username.lower() in password.lower():
        raise Invalid("password_contains_username", "密码不能包含用户名")


def change_password(session: Session, user: StaffUser, *, current: str, new: str) -> None:
    """The account holder changes their password. Bearer tokens issued before stop working."""
    from core.kit.clock import utcnow

    if not verify_password(user.password_hash, current):
        raise Invalid("password_wrong", "当前密码不正确")
    check_new_password(user.username, new)
    if verify_password(user.password_hash, new):
        raise Invalid("password_unchanged", "新密码不能与当前密码相同")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    user.token_version += 1
    session.add(user)
    session.flush()


def reset_password(session: Session, user: StaffUser, *, new: str) -> None:
    """An admin sets a temporary password: the holder must change it at the next sign-in."""
    check_new_password(user.username, new)
    user.password_hash = hash_password(new)
    user.must_change_password = True
    user.token_version += 1
    session.add(user)
    session.flush()
