"""Import errors that say exactly what is wrong and where (file, row, field)."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Invalid

MAX_REPORTED_ERRORS = 50


@dataclass(frozen=True)
class RowError:
    file: str
    row: int | None
    field: str | None
    problem: str
    unit: str = "行"

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" 第{self.row}{self.unit}"
        if self.field:
            where += f" 字段“{self.field}”"
        return f"{where}：{self.problem}"


class ImportFailed(Invalid):
    """A data file was refused as a whole; nothing of it was written."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors[:MAX_REPORTED_ERRORS]
        more = len(errors) - len(self.errors)
        summary = "；".join(str(error) for error in self.errors[:3])
        if len(errors) > 3:
            summary += f"；另有 {len(errors) - 3} 处错误"
        super().__init__(
            "import_invalid",
            f"导入失败，未写入任何数据：{summary}",
            errors=[error.__dict__ for error in self.errors],
            omitted=more,
        )


class ErrorCollector:
    """Collects row errors while a file is validated, so a file reports all its problems at once."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[RowError] = []

    def add(self, row: int | None, field: str | None, problem: str, *, unit: str = "行") -> None:
        self.errors.append(RowError(self.file, row, field, problem, unit))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ImportFailed(self.errors)
