"""Case numbers: local date + channel code + daily sequence, e.g. ``20261121WX0007``.

Human-readable, unique, never reused (the counter only grows, even when a transaction that took a
number rolls back it simply leaves a gap).
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from core.cases import repository
from core.models import Channel

CHANNEL_CODES: dict[Channel, str] = {
    Channel.SUPERVISOR: "JD",  # 监督员
    Channel.MINIPROGRAM: "WX",  # 微信小程序
    Channel.APP: "SM",  # 市民通
    Channel.WEB: "WZ",  # 网站
    Channel.HOTLINE: "RX",  # 热线
    Channel.GOV12345: "ZW",  # 12345 政务热线
    Channel.VIDEO: "SP",  # 视频
    Channel.REFERRAL: "JB",  # 上级交办
    Channel.OPEN311: "KF",  # Open311
}


def next_case_no(session: Session, *, channel: Channel, day: date) -> str:
    sequence = repository.next_sequence(session, day, channel.value)
    return f"{day:%Y%m%d}{CHANNEL_CODES[channel]}{sequence:04d}"
