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


class DbSettings(BaseModel):
    url: str = "sqlite:///var/zhcg.db"
    echo: bool = False
    pool_size: int = 5


class RedisSettings(BaseModel):
    """Redis is optional: without a URL, jobs run inline after commit (the embedded default)."""

    url: OptionalStr = None
    queue_prefix: str = "zhcg"


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


class WechatSettings(BaseModel):
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    api_base: str = "https://api.weixin.qq.com"


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


class AmiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = ""
    secret: SecretStr = SecretStr("")


class SmsSettings(BaseModel):
    """SMS gateway (login codes, citizen notifications). Without ``api_base``, development logs the
    messages instead of sending them; test and production refuse to send."""

    api_base: str = ""
    access_key: str = ""
    secret: SecretStr = SecretStr("")
    sign_name: str = "智慧城管"
    timeout_s: float = 5.0


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
    wechatpay: WechatPaySettings = Field(default_factory=WechatPaySettings)
    alipay: AlipaySettings = Field(default_factory=AlipaySettings)
    ami: AmiSettings = Field(default_factory=AmiSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)

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
        return self

    def _configured_secrets(self) -> list[tuple[str, str]]:
        return [
            ("ZHCG_WECHAT__APP_SECRET", self.wechat.app_secret.get_secret_value()),
            ("ZHCG_WECHATPAY__APIV3_KEY", self.wechatpay.apiv3_key.get_secret_value()),
            ("ZHCG_AMI__SECRET", self.ami.secret.get_secret_value()),
            ("ZHCG_SMS__SECRET", self.sms.secret.get_secret_value()),
            ("ZHCG_STORAGE__S3_SECRET_KEY", self.storage.s3_secret_key.get_secret_value()),
        ]

    @property
    def is_sqlite(self) -> bool:
        return self.db.url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
