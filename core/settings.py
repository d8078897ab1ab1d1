"""The one settings object of zhcg.

Every value comes from the environment (prefix ``ZHCG_``, nested groups joined with ``__``, e.g.
``ZHCG_DB__URL``) or a ``.env`` file. No other module reads the environment: they receive a
``Settings`` instance (``get_settings()`` caches one per process).

Outside development, placeholder secrets ("changethis", empty, too short) are refused at start-up so a
deployment cannot run with the values from ``.env.example``.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "changeme", "secret", "dev", "test"})
MIN_SECRET_LENGTH = 16


def _empty_is_none(value: object) -> object:
    """An empty variable in .env means "not set" (not the current directory, not an empty URL)."""
    return None if value == "" else value


OptionalPath = Annotated[Path | None, BeforeValidator(_empty_is_none)]
OptionalStr = Annotated[str | None, BeforeValidator(_empty_is_none)]


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class AppSettings(BaseModel):
    name: str = "智慧城管便民服务平台"
    secret_key: SecretStr = SecretStr("changethis")
    base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"
    # json: one JSON object per line (production: log shippers parse it); text: one readable line.
    # auto: json in production, text elsewhere (docs/operations.md).
    log_format: Literal["auto", "json", "text"] = "auto"


class MetricsSettings(BaseModel):
    """Prometheus ``/metrics`` (docs/operations.md). A scrape is allowed from an address in ``allow``
    (comma-separated IPs or networks; a request that came through a proxy never is) or with
    ``Authorization: Bearer <token>``; anything else is refused."""

    enabled: bool = True
    token: SecretStr = SecretStr("")
    allow: str = "127.0.0.1,::1"
    # The values read from the database and Redis (overdue cases, notifications, queue depths) are
    # reused for this many seconds, so frequent scrapes cost one query each per window.
    cache_s: float = Field(default=10.0, ge=0)

    @field_validator("token")
    @classmethod
    def _token_is_strong(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and (secret.lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH):
            raise ValueError(f"ZHCG_METRICS__TOKEN must be empty or at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("allow")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                ip_network(item.strip(), strict=False)  # ValueError names the bad entry
        return value

    @property
    def allowed_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(ip_network(item.strip(), strict=False) for item in self.allow.split(",") if item.strip())


class RateLimitSettings(BaseModel):
    """Per-client limits of the public API (docs/operations.md "Rate limits"): requests per minute per
    signed-in account, known API key or client address, by group. Feature limits (reports, SMS codes,
    fine lookups, Open311 keys per hour) apply on top. Counted in Redis when ``ZHCG_REDIS__URL`` is set
    (shared by every API process), else in each process."""

    enabled: bool = True
    reads_per_minute: int = Field(default=300, gt=0)  # GET / HEAD / OPTIONS
    writes_per_minute: int = Field(default=60, gt=0)  # POST / PUT / PATCH / DELETE
    logins_per_minute: int = Field(default=20, gt=0)  # SMS codes, logins (API and console)
    # Reverse proxies (comma-separated addresses or networks) whose X-Forwarded-For is believed. The
    # socket peer of a request from anywhere else is the client. (uvicorn itself already applies
    # X-Forwarded-For from 127.0.0.1 and ::1, its FORWARDED_ALLOW_IPS default.)
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                ip_network(item.strip(), strict=False)  # ValueError names the bad entry
        return value

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(
            ip_network(item.strip(), strict=False) for item in self.trusted_proxies.split(",") if item.strip()
        )


class DbSettings(BaseModel):
    url: str = "sqlite:///var/zhcg.db"
    echo: bool = False
    pool_size: int = 5


class RedisSettings(BaseModel):
    """Redis is optional: without a URL, jobs run inline after commit (the embedded default)."""

    url: OptionalStr = None
    queue_prefix: str = "zhcg"
    # Without a URL, `zhcg serve` runs the periodic jobs (workers/cron.py) in a thread of its own.
    embedded_cron: bool = True


class AuthSettings(BaseModel):
    """Bearer tokens and one-time SMS login codes."""

    citizen_token_ttl_s: int = 30 * 24 * 3600
    staff_token_ttl_s: int = 12 * 3600
    sms_code_ttl_s: int = 300
    sms_code_max_attempts: int = 5
    sms_codes_per_phone_per_hour: int = 5
    sms_code_resend_interval_s: int = 60
    sms_codes_per_ip_per_hour: int = 30
    staff_login_window_s: int = 900
    staff_login_failures_per_username: int = 10
    staff_login_failures_per_ip: int = 50
    # Console sessions: signed out after this long without a request, and at the latest after the max.
    console_session_idle_s: int = Field(default=2 * 3600, gt=0)
    console_session_max_s: int = Field(default=12 * 3600, gt=0)


class CaseSettings(BaseModel):
    """Time limits of the centre's stages (working hours, common practice) and of the on-site check."""

    register_limit_work_hours: float = 1.0
    dispatch_limit_work_hours: float = 0.5
    check_limit_work_hours: float = 4.0
    urge_when_remaining_ratio: float = 0.2
    rating_window_days: int = 30


class RewardSettings(BaseModel):
    """Reward points for citizens' reports (common practice; adjust per city)."""

    report_registered_points: int = 10
    first_report_bonus_points: int = 5
    daily_cap_points: int = 50
    first_report_window_days: int = 7
    reports_per_citizen_per_hour: int = 10
    reports_per_citizen_per_day: int = 30
    # Per device (the clients' X-Device-Id): higher than per citizen, a family may share one phone.
    reports_per_device_per_hour: int = Field(default=20, gt=0)
    reports_per_device_per_day: int = Field(default=60, gt=0)
    # Suspicious-pattern flags shown to staff on a case (computed when read, never stored).
    flag_voided_window_days: int = Field(default=30, gt=0)
    flag_voided_min_reports: int = Field(default=5, gt=0)
    flag_voided_ratio: float = Field(default=0.5, gt=0, le=1)
    flag_burst_reports: int = Field(default=5, gt=1)
    flag_burst_window_minutes: int = Field(default=10, gt=0)
    flag_shared_device_citizens: int = Field(default=3, gt=1)
    flag_shared_device_window_days: int = Field(default=7, gt=0)
    flag_travel_km: float = Field(default=20.0, gt=0)
    flag_travel_minutes: int = Field(default=15, gt=0)


class StorageSettings(BaseModel):
    """Photo storage (local folder or S3-compatible) and the limits of an uploaded photo."""

    backend: Literal["local", "s3"] = "local"
    local_dir: Path = Path("var/photos")
    s3_endpoint: OptionalStr = None
    s3_bucket: OptionalStr = None
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")
    max_upload_bytes: int = Field(default=15 * 1024 * 1024, gt=0)
    max_pixels: int = Field(default=40_000_000, gt=0)
    display_max_px: int = Field(default=2048, gt=0)
    thumb_px: int = Field(default=320, gt=0)

    @model_validator(mode="after")
    def _s3_is_complete(self) -> Self:
        if self.backend == "s3":
            missing = [
                f"ZHCG_STORAGE__{name.upper()}"
                for name, value in (
                    ("s3_endpoint", self.s3_endpoint),
                    ("s3_bucket", self.s3_bucket),
                    ("s3_access_key", self.s3_access_key.get_secret_value()),
                    ("s3_secret_key", self.s3_secret_key.get_secret_value()),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"ZHCG_STORAGE__BACKEND=s3 needs {', '.join(missing)}")
        return self


class CalendarSettings(BaseModel):
    """Working hours of the centre and departments, local wall-clock time."""

    working_hours: str = "08:30-12:00,14:00-17:30"

    @field_validator("working_hours")
    @classmethod
    def _valid_hours(cls, value: str) -> str:
        from core.kit.workcal import WorkingHours

        WorkingHours.parse(value)
        return value


class GeoSettings(BaseModel):
    """Coordinate system the clients send when they do not say (WeChat sends GCJ-02)."""

    default_coord: Literal["wgs84", "gcj02"] = "wgs84"


class PlacesSettings(BaseModel):
    """Toilets and parking: a pushed parking availability older than this is reported as unknown."""

    availability_stale_s: int = Field(default=15 * 60, gt=0)


# The keyword layout of the suggested template (工单进度提醒 from the public library): WeChat keyword →
# the fact of our message that fills it. Keyword prefixes fix the value rules (thing ≤ 20 characters…).
DEFAULT_TEMPLATE_FIELDS: dict[str, str] = {
    "character_string1": "case_no",
    "phrase2": "status",
    "thing3": "note",
    "time4": "time",
}


TEMPLATE_FACTS = frozenset({"case_no", "status", "note", "time", "category", "address"})


class SubscribeTemplate(BaseModel):
    """One subscribe-message template applied for in the mini-program's admin (订阅消息 → 我的模板).

    ``fields`` maps the template's keywords to the facts we know: ``case_no``, ``status`` (a short
    state such as 已立案), ``note`` (reason, department, reply…), ``time`` (when it happened),
    ``category`` and ``address`` (as the citizen reported them). ``page`` is the mini-program page a tap
    opens; ``{case_no}`` is replaced.
    """

    template_id: str = Field(min_length=1, max_length=64)
    page: str = "pages/case/detail?no={case_no}"
    fields: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TEMPLATE_FIELDS), min_length=1)

    @field_validator("fields")
    @classmethod
    def _known_facts(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value.values()) - TEMPLATE_FACTS)
        if unknown:
            raise ValueError(f"unknown facts {unknown}; use {sorted(TEMPLATE_FACTS)}")
        return value


class WechatSettings(BaseModel):
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    api_base: str = "https://api.weixin.qq.com"
    timeout_s: float = Field(default=5.0, gt=0)
    # Outbox event → template. An event without a template is sent by SMS only. JSON in the environment:
    # ZHCG_WECHAT__SUBSCRIBE_TEMPLATES='{"case_registered": {"template_id": "..."}}'
    subscribe_templates: dict[str, SubscribeTemplate] = Field(default_factory=dict)
    # Which build of the mini-program a tap on the message opens: formal | trial | developer
    miniprogram_state: Literal["formal", "trial", "developer"] = "formal"
    # The most one-time consents per template we keep counting for one citizen.
    max_consents_per_template: int = Field(default=50, gt=0)


class ConsoleSettings(BaseModel):
    """The staff console. Without a tile URL the map draws only our vector data (grids, cases, places)."""

    # e.g. 天地图: https://t0.tianditu.gov.cn/vec_w/wmts?...&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY
    map_tile_url: str = ""
    map_tile_attribution: str = ""
    page_size: int = Field(default=50, ge=10, le=200)
    counts_refresh_s: int = Field(default=30, ge=5)


class WechatPaySettings(BaseModel):
    mch_id: str = ""
    app_id: str = ""
    apiv3_key: SecretStr = SecretStr("")
    private_key_path: OptionalPath = None
    cert_serial_no: str = ""
    public_key_path: OptionalPath = None
    public_key_id: str = ""
    api_base: str = "https://api.mch.weixin.qq.com"
    notify_url: str = ""


class AlipaySettings(BaseModel):
    app_id: str = ""
    private_key_path: OptionalPath = None
    alipay_public_key_path: OptionalPath = None
    gateway: str = "https://openapi.alipay.com/gateway.do"
    notify_url: str = ""
    seller_id: str = ""  # the merchant's PID (2088…); a notification for another seller is refused


class PaymentsSettings(BaseModel):
    """Online payment of fines (both channels)."""

    order_ttl_s: int = Field(default=1800, ge=120, le=7200)  # an unpaid order expires (and is closed)
    poll_after_s: int = Field(default=300, gt=0)  # ask the provider about an order still pending this long
    poll_batch: int = Field(default=100, gt=0)
    reconcile_hour: int = Field(default=10, ge=0, le=23)  # local hour; bills of yesterday are ready by then
    bureau_name: str = "市城市管理综合行政执法局"  # printed on receipts
    # Demo only: `zhcg serve` starts the local fake WeChat Pay and Alipay gateways and points the
    # channels at them. Refused outside development.
    sandbox: bool = False


class AmiSettings(BaseModel):
    """The Asterisk Manager Interface the hotline bridge (``python -m hotline``) logs in to."""

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = ""
    secret: SecretStr = SecretStr("")
    # Watchdog: Action Ping every interval; no Pong within the timeout → the socket is half-open, reconnect.
    # The timeout also bounds connecting and logging in.
    ping_interval_s: float = Field(default=20.0, gt=0)
    ping_timeout_s: float = Field(default=5.0, gt=0)
    # Reconnection (and login retries) back off exponentially from min to max, with jitter.
    reconnect_min_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=60.0, gt=0)
    # Dialled number (Exten of the call's first channel) → hotline line. Calls to other numbers that
    # never join a queue (internal calls) are not recorded. JSON in the environment.
    lines: dict[str, str] = Field(default_factory=lambda: {"12319": "12319", "12345": "12345"})

    # Outbound calls (call-backs and follow-ups, docs/hotline.md): off until the dialplan contexts exist.
    outbound_enabled: bool = False
    # The channel Originate dials ({number}: the citizen's number), e.g. through a dialplan context that
    # picks the trunk; once answered the call goes to the context/exten/priority (or the application).
    outbound_channel: str = "Local/{number}@zhcg-callback"
    callback_context: str = "zhcg-callback-agent"
    callback_exten: str = "s"
    callback_priority: int = Field(default=1, ge=1)
    callback_application: str = ""  # e.g. Queue; when set, used instead of the context
    callback_data: str = ""
    followup_context: str = "zhcg-followup"
    followup_exten: str = "s"
    followup_priority: int = Field(default=1, ge=1)
    followup_application: str = ""  # e.g. AGI with data agi://10.0.0.5:4573/followup
    followup_data: str = ""
    # The caller ID shown to the citizen: the line of the missed call, else this one.
    default_line: str = "12319"
    ring_timeout_s: int = Field(default=30, gt=0)  # how long the citizen's phone rings
    max_concurrent_originates: int = Field(default=2, gt=0)
    max_attempts: int = Field(default=3, gt=0)  # then the task is unreachable
    retry_min_s: float = Field(default=600.0, gt=0)  # back-off after a failed try, doubling up to the max
    retry_max_s: float = Field(default=3600.0, gt=0)
    scheduler_interval_s: float = Field(default=5.0, gt=0)
    # Local wall-clock window (Asia/Shanghai) for dialling citizens; empty = any time.
    calling_hours: str = "08:00-21:00"
    followup_delay_s: float = Field(default=3600.0, ge=0)  # after the case is closed
    followup_scan_interval_s: float = Field(default=300.0, gt=0)
    followup_lookback_days: int = Field(default=30, gt=0)
    # FastAGI server (IVR self-service and the follow-up satisfaction): off unless enabled.
    agi_enabled: bool = False
    agi_host: str = "127.0.0.1"
    agi_port: int = Field(default=4573, ge=0, le=65535)  # 0: any free port (tests)
    agi_digit_timeout_s: float = Field(default=6.0, gt=0)
    agi_tries: int = Field(default=3, gt=0)

    @model_validator(mode="after")
    def _backoff_range(self) -> Self:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("ZHCG_AMI__RECONNECT_MAX_S must not be below ZHCG_AMI__RECONNECT_MIN_S")
        if self.retry_max_s < self.retry_min_s:
            raise ValueError("ZHCG_AMI__RETRY_MAX_S must not be below ZHCG_AMI__RETRY_MIN_S")
        if "{number}" not in self.outbound_channel:
            raise ValueError("ZHCG_AMI__OUTBOUND_CHANNEL must contain {number}")
        return self

    @field_validator("calling_hours")
    @classmethod
    def _valid_calling_hours(cls, value: str) -> str:
        from core.calls.callbacks import parse_calling_hours

        parse_calling_hours(value)
        return value


class SmsSettings(BaseModel):
    """SMS gateway (login codes, citizen notifications). Without ``api_base``, development logs the
    messages instead of sending them; test and production refuse to send."""

    api_base: str = ""
    access_key: str = ""
    secret: SecretStr = SecretStr("")
    sign_name: str = "智慧城管"
    timeout_s: float = 5.0


class EvaluationSettings(BaseModel):
    """综合评价: score weights (percentages, common practice: GB/T 30428.4 style) and hot-spot lists.

    A score is the weighted mean of its parts (each 0..1, times 100); a part that is undefined for a
    row (nothing to divide by) is left out and the remaining weights are rescaled."""

    # Area score: 监督举报率 10 + 立案数 20 (÷ the largest 立案数 of the compared areas)
    # + 结案率 30 + 按期结案率 40.
    area_weight_supervisor_report_rate: float = Field(default=10, ge=0)
    area_weight_registered: float = Field(default=20, ge=0)
    area_weight_close_rate: float = Field(default=30, ge=0)
    area_weight_ontime_close_rate: float = Field(default=40, ge=0)
    # Department score: 处置率 + 按期处置率 + (1 − 返工率) + (1 − 回退率).
    department_weight_handle_rate: float = Field(default=30, ge=0)
    department_weight_ontime_handle_rate: float = Field(default=40, ge=0)
    department_weight_rework_rate: float = Field(default=15, ge=0)
    department_weight_return_rate: float = Field(default=15, ge=0)
    # How many categories, grids and streets the hot-spot lists show.
    hotspot_top: int = Field(default=10, ge=1, le=50)

    @model_validator(mode="after")
    def _some_weight(self) -> Self:
        area = (
            self.area_weight_supervisor_report_rate
            + self.area_weight_registered
            + self.area_weight_close_rate
            + self.area_weight_ontime_close_rate
        )
        department = (
            self.department_weight_handle_rate
            + self.department_weight_ontime_handle_rate
            + self.department_weight_rework_rate
            + self.department_weight_return_rate
        )
        if area <= 0 or department <= 0:
            raise ValueError("evaluation weights: each score needs at least one positive weight")
        return self


class Gov12345Settings(BaseModel):
    """The 12345 work-order exchange (docs/exchange-12345.md). Inbound orders need ``app_id`` and
    ``secret``; status pushes also need ``base_url`` (without it they wait, pending)."""

    base_url: str = ""
    app_id: str = ""
    secret: SecretStr = SecretStr("")
    timestamp_window_s: int = Field(default=300, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    # The order's category hint → our minor category code: this map (exact), then our category of that
    # name, then keywords found in the hint, title or description; else ``default_category``. JSON.
    category_map: dict[str, str] = Field(default_factory=dict)
    category_keywords: dict[str, str] = Field(default_factory=dict)
    default_category: str = ""
    # Where a case goes when the order has no usable position (WGS-84); the case is flagged for the operator.
    default_lng: Annotated[float | None, BeforeValidator(_empty_is_none)] = None
    default_lat: Annotated[float | None, BeforeValidator(_empty_is_none)] = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ZHCG_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Environment = Environment.DEVELOPMENT
    app: AppSettings = Field(default_factory=AppSettings)
    db: DbSettings = Field(default_factory=DbSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    cases: CaseSettings = Field(default_factory=CaseSettings)
    rewards: RewardSettings = Field(default_factory=RewardSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    geo: GeoSettings = Field(default_factory=GeoSettings)
    places: PlacesSettings = Field(default_factory=PlacesSettings)
    wechat: WechatSettings = Field(default_factory=WechatSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    wechatpay: WechatPaySettings = Field(default_factory=WechatPaySettings)
    alipay: AlipaySettings = Field(default_factory=AlipaySettings)
    payments: PaymentsSettings = Field(default_factory=PaymentsSettings)
    ami: AmiSettings = Field(default_factory=AmiSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    gov12345: Gov12345Settings = Field(default_factory=Gov12345Settings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    ratelimit: RateLimitSettings = Field(default_factory=RateLimitSettings)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment is Environment.DEVELOPMENT:
            return self
        secret = self.app.secret_key.get_secret_value()
        if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"ZHCG_APP__SECRET_KEY is a placeholder or shorter than {MIN_SECRET_LENGTH} characters; "
                f"set a real secret for environment '{self.environment}'"
            )
        for name, value in self._configured_secrets():
            if value.lower() in PLACEHOLDER_SECRETS - {""}:
                raise ValueError(f"{name} is a placeholder; set the real value")
        if self.payments.sandbox:
            raise ValueError("ZHCG_PAYMENTS__SANDBOX (fake payment gateways) is for development only")
        if self.environment is Environment.PRODUCTION and not self.sms.api_base:
            # Without a gateway nobody can log in by SMS code and no citizen is notified: refuse to start.
            raise ValueError("ZHCG_SMS__API_BASE is not set; production needs the SMS gateway")
        return self

    def _configured_secrets(self) -> list[tuple[str, str]]:
        return [
            ("ZHCG_WECHAT__APP_SECRET", self.wechat.app_secret.get_secret_value()),
            ("ZHCG_WECHATPAY__APIV3_KEY", self.wechatpay.apiv3_key.get_secret_value()),
            ("ZHCG_AMI__SECRET", self.ami.secret.get_secret_value()),
            ("ZHCG_SMS__SECRET", self.sms.secret.get_secret_value()),
            ("ZHCG_STORAGE__S3_SECRET_KEY", self.storage.s3_secret_key.get_secret_value()),
            ("ZHCG_GOV12345__SECRET", self.gov12345.secret.get_secret_value()),
        ]

    @property
    def is_sqlite(self) -> bool:
        return self.db.url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
