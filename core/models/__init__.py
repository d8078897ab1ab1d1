"""All tables of zhcg, one module per aggregate. Importing this package registers every table on
``SQLModel.metadata`` (Alembic and the tests rely on that)."""

from core.models.areas import AdminArea, AreaLevel, ResponsibilityGrid, UnitGrid
from core.models.calendar import CalendarDay, CalendarYear
from core.models.categories import Category, CategoryKind, CategoryLevel, RegisterStandard, RoutingRule
from core.models.departments import Department, DepartmentKind
from core.models.imports import ImportBatch
from core.models.places import Place, PlaceKind
from core.models.staff import StaffRole, StaffUser

__all__ = [
    "AdminArea",
    "AreaLevel",
    "CalendarDay",
    "CalendarYear",
    "Category",
    "CategoryKind",
    "CategoryLevel",
    "Department",
    "DepartmentKind",
    "ImportBatch",
    "Place",
    "PlaceKind",
    "RegisterStandard",
    "ResponsibilityGrid",
    "RoutingRule",
    "StaffRole",
    "StaffUser",
    "UnitGrid",
]
