"""Settings: nested groups from the environment, placeholder secrets refused outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from core.settings import Environment, Settings

ROOT = Path(__file__).resolve().parents[2]
STRONG = "a-real-secret-with-enough-length"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ZHCG_"):
            monkeypatch.delenv(name)


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_development_accepts_placeholders() -> None:
    settings = make(environment="development")
    assert settings.app.secret_key.get_secret_value() == "changethis"
    assert settings.db.url == "sqlite:///var/zhcg.db"
    assert settings.redis.url is None


@pytest.mark.parametrize("environment", ["test", "production"])
@pytest.mark.parametrize("secret", ["changethis", "", "short-secret"])
def test_placeholder_secret_refused_outside_development(environment: str, secret: str) -> None:
    with pytest.raises(ValidationError, match="ZHCG_APP__SECRET_KEY"):
        make(environment=environment, app={"secret_key": secret})


def test_placeholder_integration_secret_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="ZHCG_WECHAT__APP_SECRET"):
        make(environment="production", app={"secret_key": STRONG}, wechat={"app_secret": "changethis"})


def test_real_secrets_accepted_in_production() -> None:
    settings = make(
        environment="production", app={"secret_key": STRONG}, sms={"api_base": "https://sms.example.cn"}
    )
    assert settings.environment is Environment.PRODUCTION
    assert STRONG not in repr(settings)


def test_production_needs_the_sms_gateway() -> None:
    with pytest.raises(ValidationError, match="ZHCG_SMS__API_BASE"):
        make(environment="production", app={"secret_key": STRONG})


def test_nested_groups_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHCG_DB__URL", "postgresql+psycopg://u@db/zhcg")
    monkeypatch.setenv("ZHCG_REDIS__URL", "redis://cache:6379/1")
    monkeypatch.setenv("ZHCG_CALENDAR__WORKING_HOURS", "09:00-12:00,13:30-18:00")
    settings = make()
    assert settings.db.url == "postgresql+psycopg://u@db/zhcg"
    assert settings.redis.url == "redis://cache:6379/1"
    assert not settings.is_sqlite
    assert settings.calendar.working_hours == "09:00-12:00,13:30-18:00"


@pytest.mark.parametrize("spec", ["08:30-12:00,11:00-13:00", "nonsense", "18:00-09:00"])
def test_bad_working_hours_refused(spec: str) -> None:
    with pytest.raises(ValidationError):
        make(calendar={"working_hours": spec})


def _variables(model: type[BaseModel], prefix: str) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _variables(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def test_env_example_documents_every_variable() -> None:
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert documented == _variables(Settings, "ZHCG_")


def test_env_example_is_a_valid_development_configuration() -> None:
    settings = Settings(_env_file=str(ROOT / ".env.example"))  # type: ignore[call-arg]
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.redis.url is None
    assert settings.wechatpay.private_key_path is None
