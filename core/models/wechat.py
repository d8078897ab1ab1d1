"""WeChat subscribe-message consents.

The mini-program asks ``wx.requestSubscribeMessage`` for template ids; every "accept" grants exactly one
message of that template to this user (a one-time consent). We count the grants we were told about and
spend one per message sent, so a message is not attempted when we know no consent is left. WeChat keeps
the authoritative count: its 43101 answer resets ours to zero.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field

from core.models.base import Timestamped


class SubscribeConsent(Timestamped, table=True):
    __tablename__ = "subscribe_consent"
    __table_args__ = (
        sa.UniqueConstraint("citizen_id", "template_id", name="uq_subscribe_consent_citizen_template"),
        sa.CheckConstraint("available >= 0", name="available_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    citizen_id: int = Field(foreign_key="citizen.id", index=True)
    template_id: str = Field(max_length=64)
    available: int = 0
