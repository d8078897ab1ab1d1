"""What the public fine lookup answers: amounts in fen and as exact yuan strings."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from core.models import FineStatus


class FineOut(BaseModel):
    decision_no: str = Field(description="决定书编号")
    status: FineStatus = Field(description="unpaid 未缴 / paid 已缴 / cancelled 已撤销 / deferred 暂缓或分期")
    amount_fen: int = Field(description="罚款金额（分）")
    amount_yuan: str = Field(description="罚款金额（元）")
    late_days: int = Field(description="计入加处罚款的逾期天数（截至今天）")
    late_fee_fen: int | None = Field(description="加处罚款（分），已缴或已撤销时为空")
    late_fee_yuan: str | None = Field(description="加处罚款（元）")
    total_fen: int | None = Field(description="应缴合计（分），已缴或已撤销时为空")
    total_yuan: str | None = Field(description="应缴合计（元）")
    served_on: date = Field(description="送达日期")
    due_on: date = Field(description="缴款期限（最后一天）")
    deferral_from: date | None = Field(description="暂缓起始日期")
    deferral_until: date | None = Field(description="暂缓截止日期")
    instalment_note: str = Field(description="分期说明")
    as_of: date = Field(description="计算日期（北京时间）")
