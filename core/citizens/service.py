"""Citizen login with a one-time SMS code or a WeChat mini-program ``wx.login()`` code.

Only an HMAC of each code is stored (keyed with the app secret, bound to phone and purpose). A code
works once, for ``sms_code_ttl_s`` seconds and ``sms_code_max_attempts`` wrong tries; only the latest
code of a phone counts. Requests are rate limited from the ``sms_code`` table itself (resend interval
and hourly count per phone, hourly count per client address), so no Redis is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session

from core.auth.service import token_for
from core.citizens import repository
from core.citizens.errors import (
    CitizenDisabled,
    CodeAttemptsExceeded,
    CodeExpired,
    CodeInvalid,
    InvalidPhone,
    PhoneAlreadyBound,
    PhoneTaken,
    SmsRateLimited,
    SmsRecipientRefused,
    SmsUnavailable,
    WechatCodeInvalid,
    WechatNotConfigured,
    WechatRateLimited,
    WechatUnavailable,
    WechatUserBlocked,
)
from core.citizens.schemas import CitizenOut, CitizenToken, SmsCodeSent
from core.kit.clock import utcnow
from core.models import Citizen, SmsCode
from core.notify import templates
from core.notify.sms import SmsError, SmsGateway, SmsRetryable, mask_phone
from core.settings import Settings
from core.wechat import client as wechat

log = logging.getLogger("zhcg.citizens")

LOGIN = "login"
CODE_DIGITS = 6
HOUR = timedelta(hours=1)
# Mainland China mobile numbers; ASCII digits only (\d would accept other scripts' digits).
PHONE_RE = re.compile(r"1[3-9][0-9]{9}")
CODE_RE = re.compile(r"[0-9]{6}")
_SEPARATORS = str.maketrans("", "", " -\t")


def normalize_phone(raw: str) -> str:
    """``13800138000`` from what a person typed (spaces, dashes, +86); ``InvalidPhone`` otherwise."""
    phone = raw.strip().translate(_SEPARATORS)
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix):
            phone = phone[len(prefix) :]
    if not PHONE_RE.fullmatch(phone):
        raise InvalidPhone()
    return phone


def code_hash(settings: Settings, *, phone: str, purpose: str, code: str) -> str:
    key = settings.app.secret_key.get_secret_value().encode()
    return hmac.new(key, f"sms-code:{purpose}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def citizen_out(citizen: Citizen) -> CitizenOut:
    assert citizen.id is not None
    return CitizenOut(id=citizen.id, phone_masked=mask_phone(citizen.phone or ""))


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _check_rate_limits(
    session: Session, settings: Settings, *, phone: str, client_ip: str, now: datetime
) -> None:
    auth = settings.auth
    last = repository.latest_code(session, phone=phone)
    if last is not None:
        next_allowed = last.created_at + timedelta(seconds=auth.sms_code_resend_interval_s)
        if next_allowed > now:
            raise SmsRateLimited(_seconds(next_allowed - now), "resend_interval")
    since = now - HOUR
    windows: list[tuple[str, int, str | None, str | None]] = [
        ("phone_hourly", auth.sms_codes_per_phone_per_hour, phone, None)
    ]
    if client_ip:
        windows.append(("ip_hourly", auth.sms_codes_per_ip_per_hour, None, client_ip))
    for reason, limit, by_phone, by_ip in windows:
        count = repository.count_codes_since(session, since=since, phone=by_phone, client_ip=by_ip)
        if count >= limit:
            # Allowed again once enough of the window's codes are more than an hour old.
            oldest = repository.nth_code_time_since(
                session, since=since, offset=count - limit, phone=by_phone, client_ip=by_ip
            )
            wait = (oldest + HOUR - now) if oldest is not None else HOUR
            raise SmsRateLimited(_seconds(wait), reason)


def request_login_code(
    session: Session,
    *,
    settings: Settings,
    gateway: SmsGateway,
    phone: str,
    client_ip: str = "",
    now: datetime | None = None,
) -> SmsCodeSent:
    """Send a new login code to ``phone``. A failed send stores nothing (and counts for nothing)."""
    phone = normalize_phone(phone)
    now = now or utcnow()
    client_ip = client_ip[:64]
    auth = settings.auth
    repository.lock_phone(session, phone)
    _check_rate_limits(session, settings, phone=phone, client_ip=client_ip, now=now)

    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    row = repository.add_code(
        session,
        SmsCode(
            phone=phone,
            purpose=LOGIN,
            code_hash=code_hash(settings, phone=phone, purpose=LOGIN, code=code),
            expires_at=now + timedelta(seconds=auth.sms_code_ttl_s),
            client_ip=client_ip,
            created_at=now,
            updated_at=now,
        ),
    )
    try:
        gateway.send(phone, templates.login_code(code, auth.sms_code_ttl_s), out_id=f"login-{row.id}")
    except SmsError as exc:
        log.warning("login code to %s not sent: %s", mask_phone(phone), exc)
        if exc.code == "invalid_phone":
            raise SmsRecipientRefused() from exc
        if isinstance(exc, SmsRetryable) and exc.code == "rate_limited":
            raise SmsRateLimited(auth.sms_code_resend_interval_s, "gateway") from exc
        raise SmsUnavailable() from exc
    return SmsCodeSent(expires_in=auth.sms_code_ttl_s, resend_after=auth.sms_code_resend_interval_s)


def check_login_code(
    session: Session, *, settings: Settings, phone: str, code: str, now: datetime | None = None
) -> str:
    """Consume the latest login code of ``phone`` when ``code`` matches; the normalised phone.

    A wrong code is counted on the row before ``CodeRejected`` is raised: the caller commits first.
    """
    phone = normalize_phone(phone)
    now = now or utcnow()
    max_attempts = settings.auth.sms_code_max_attempts
    row = repository.latest_code(session, phone=phone, purpose=LOGIN, for_update=True)
    if row is None or row.consumed_at is not None:
        raise CodeInvalid()
    if row.expires_at <= now:
        raise CodeExpired()
    if row.attempts >= max_attempts:
        raise CodeAttemptsExceeded()
    given = code.strip()
    expected = row.code_hash
    # Hash whatever was typed (malformed too) and compare digests in constant time.
    matches = hmac.compare_digest(expected, code_hash(settings, phone=phone, purpose=LOGIN, code=given))
    if not matches or not CODE_RE.fullmatch(given):
        row.attempts += 1
        row.updated_at = now
        session.flush()
        remaining = max_attempts - row.attempts
        if remaining <= 0:
            raise CodeAttemptsExceeded()
        raise CodeInvalid(remaining)
    row.consumed_at = now
    row.updated_at = now
    session.flush()
    return phone


def citizen_for_phone(session: Session, phone: str) -> Citizen:
    """The citizen with this phone, registered on first login."""
    citizen = repository.citizen_by_phone(session, phone)
    if citizen is None:
        citizen = repository.add_citizen(session, Citizen(phone=phone)) or repository.citizen_by_phone(
            session, phone
        )
    assert citizen is not None
    return citizen


def login_with_code(
    session: Session, *, settings: Settings, phone: str, code: str, now: datetime | None = None
) -> CitizenToken:
    phone = check_login_code(session, settings=settings, phone=phone, code=code, now=now)
    citizen = citizen_for_phone(session, phone)
    if not citizen.active:
        raise CitizenDisabled()
    token, ttl = token_for(settings, citizen)
    return CitizenToken(token=token, expires_in=ttl, citizen=citizen_out(citizen))


# --- WeChat mini-program ------------------------------------------------------

WECHAT_CODE_INVALID = {40029, 40163}
WECHAT_RATE_LIMITED = 45011
WECHAT_USER_BLOCKED = 40226


def _token(settings: Settings, citizen: Citizen) -> CitizenToken:
    token, ttl = token_for(settings, citizen)
    return CitizenToken(token=token, expires_in=ttl, citizen=citizen_out(citizen))


def _wechat_session(client: wechat.WechatClient, code: str) -> wechat.WechatSession:
    try:
        return client.code_to_session(code)
    except wechat.WechatNotConfigured as exc:
        raise WechatNotConfigured() from exc
    except wechat.WechatError as exc:
        if exc.errcode in WECHAT_CODE_INVALID:
            raise WechatCodeInvalid() from exc
        if exc.errcode == WECHAT_RATE_LIMITED:
            raise WechatRateLimited() from exc
        if exc.errcode == WECHAT_USER_BLOCKED:
            raise WechatUserBlocked() from exc
        log.warning("wechat login failed: errcode=%s", exc.errcode)
        raise WechatUnavailable() from exc


def login_with_wechat(
    session: Session, *, settings: Settings, code: str, client: wechat.WechatClient
) -> CitizenToken:
    """Find or register the citizen of the WeChat user behind ``code``; the session_key is dropped."""
    found = _wechat_session(client, code.strip())
    citizen = repository.citizen_by_openid(session, found.openid)
    if citizen is None:
        citizen = repository.add_wechat_citizen(
            session, Citizen(openid=found.openid, unionid=found.unionid)
        ) or repository.citizen_by_openid(session, found.openid)
    assert citizen is not None
    if not citizen.active:
        raise CitizenDisabled()
    if found.unionid and citizen.unionid != found.unionid:
        citizen.unionid = found.unionid
        citizen.updated_at = utcnow()
        session.flush()
    return _token(settings, citizen)


def bind_phone(
    session: Session,
    *,
    settings: Settings,
    citizen: Citizen,
    phone: str,
    code: str,
    now: datetime | None = None,
) -> CitizenToken:
    """Bind a phone, proven with an SMS login code, to a WeChat citizen.

    When another citizen already has that phone (registered by phone login), the two are merged: the
    phone citizen is kept and takes the openid/unionid, the WeChat-only citizen is deactivated (its
    tokens stop working) and its cases, follows, reward ledger and redemptions move to the kept one.
    Like ``login_with_code``, a wrong code raises ``CodeRejected`` after counting the try.
    """
    phone = check_login_code(session, settings=settings, phone=phone, code=code, now=now)
    now = now or utcnow()
    if citizen.phone == phone:
        return _token(settings, citizen)
    if citizen.phone is not None:
        raise PhoneAlreadyBound()
    owner = repository.citizen_by_phone(session, phone)
    if owner is None:
        citizen.phone = phone
        citizen.updated_at = now
        session.flush()
        return _token(settings, citizen)
    if not owner.active:
        raise CitizenDisabled()
    if owner.openid is not None and owner.openid != citizen.openid:
        raise PhoneTaken()
    assert citizen.id is not None
    assert owner.id is not None
    openid, unionid = citizen.openid, citizen.unionid
    citizen.openid = None
    citizen.unionid = None
    citizen.active = False
    citizen.token_version += 1
    citizen.updated_at = now
    session.flush()  # free the unique openid before the kept citizen takes it
    owner.openid = openid
    owner.unionid = unionid or owner.unionid
    owner.updated_at = now
    session.flush()
    repository.move_citizen_records(session, from_id=citizen.id, to_id=owner.id)
    log.info("citizen %s merged into %s on phone binding", citizen.id, owner.id)
    return _token(settings, owner)
