"""Load the demo city: generated geography and places, the versioned Xinyu data files, one demo
account per staff role and a few demo penalty decisions to pay. Re-running it changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from core.demo.fines import ensure_demo_fines
from core.demo.generate import generate
from core.errors import Forbidden
from core.kit.clock import to_local, utcnow
from core.masterdata.service import ImportResult, import_folders
from core.models import StaffRole
from core.settings import Environment, Settings
from core.staff import repository as staff_repository
from core.staff.service import create_staff

XINYU_DATA = Path(__file__).resolve().parent.parent / "data" / "xinyu"
DEMO_PASSWORD = "zhcg-demo-2026"  # noqa: S105 - public on purpose: demo only, refused in production
HANDLER_DEPARTMENT = "D002"
CITY_CENTRE_GCJ02 = (114.9216, 27.8156)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: StaffRole
    department_code: str | None = None


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("operator", "受理员 王敏", StaffRole.OPERATOR),
    DemoAccount("shiftlead", "值班长 李强", StaffRole.SHIFT_LEAD),
    DemoAccount("dispatcher", "派遣员 陈静", StaffRole.DISPATCHER),
    DemoAccount("supervisor", "监督员 刘洋", StaffRole.SUPERVISOR),
    DemoAccount("handler", "处置人员 张伟", StaffRole.HANDLER, HANDLER_DEPARTMENT),
    DemoAccount("leader", "领导 周建国", StaffRole.LEADER),
    DemoAccount("admin", "系统管理员", StaffRole.ADMIN),
)


@dataclass(frozen=True)
class DemoSummary:
    imports: list[ImportResult]
    accounts_created: list[str]
    fines_created: list[str] = field(default_factory=list)


def ensure_demo_accounts(session: Session) -> list[str]:
    from core.masterdata.repository import all_by_code
    from core.models import Department

    departments = all_by_code(session, Department)
    created: list[str] = []
    for account in DEMO_ACCOUNTS:
        if staff_repository.by_username(session, account.username) is not None:
            continue
        department = departments.get(account.department_code) if account.department_code else None
        create_staff(
            session,
            username=account.username,
            display_name=account.display_name,
            role=account.role,
            password=DEMO_PASSWORD,
            department_id=department.id if department else None,
        )
        created.append(account.username)
    return created


def load_demo(session: Session, *, settings: Settings, out_dir: Path, seed: int | None = None) -> DemoSummary:
    if settings.environment is Environment.PRODUCTION:
        raise Forbidden("demo_forbidden", "生产环境不允许加载演示数据（演示账号的密码是公开的）")
    files = generate(out_dir) if seed is None else generate(out_dir, seed=seed)
    imports = import_folders(session, [XINYU_DATA, files.areas.parent])
    created = ensure_demo_accounts(session)
    _put_demo_supervisor_on_duty(session)
    _stock_demo_catalogue(session)
    fines = ensure_demo_fines(session, today=to_local(utcnow()).date())
    return DemoSummary(imports, created, fines)


def _put_demo_supervisor_on_duty(session: Session) -> None:
    """The demo supervisor patrols every responsibility grid and is on duty at the city centre, so
    verify and check tasks of the walkthrough reach someone."""
    from core.staff.service import assign_grids, set_duty

    supervisor = staff_repository.by_username(session, "supervisor")
    if supervisor is None:
        return
    assign_grids(session, supervisor, staff_repository.responsibility_grid_ids(session))
    if not supervisor.on_duty:
        set_duty(session, supervisor, on_duty=True, lng=CITY_CENTRE_GCJ02[0], lat=CITY_CENTRE_GCJ02[1])


def _stock_demo_catalogue(session: Session) -> None:
    from core.models.rewards import RewardItemKind
    from core.rewards.service import ensure_item

    for code, name, kind, cost, stock in (
        ("HF10", "10元话费", RewardItemKind.PHONE_CREDIT, 100, 200),
        ("HF30", "30元话费", RewardItemKind.PHONE_CREDIT, 280, 100),
        ("TCQ", "公共停车场2小时停车券", RewardItemKind.COUPON, 60, 300),
    ):
        ensure_item(session, code=code, name=name, kind=kind, points_cost=cost, stock=stock)
