"""A tiny client for the WeChat mini-program login call (``sns/jscode2session``).

Written on httpx rather than wechatpy: wechatpy 1.8 is synchronous, its base URL is a class constant
and its ``_get`` adds an access token to every call (one extra round trip login does not need). Here
the base URL comes from ``settings.wechat.api_base`` so tests point it at a local fake.

``session_key`` is kept only inside ``WechatSession`` (excluded from ``repr``) and is never logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.settings import Settings

log = logging.getLogger("zhcg.wechat")

TIMEOUT_S = 5.0


@dataclass(frozen=True)
class WechatSession:
    openid: str
    unionid: str | None = None
    session_key: str = field(default="", repr=False)


class WechatError(Exception):
    """WeChat answered an error (``errcode``) or could not be reached (``errcode`` None)."""

    def __init__(self, errcode: int | None, errmsg: str) -> None:
        super().__init__(f"wechat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WechatNotConfigured(Exception):
    """No app id / secret in the settings."""


class WechatClient:
    def __init__(
        self, *, api_base: str, app_id: str, app_secret: str, http: httpx.Client | None = None
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.app_id = app_id
        self._app_secret = app_secret
        self._http = http

    @property
    def configured(self) -> bool:
        return bool(self.app_id and self._app_secret)

    def code_to_session(self, code: str) -> WechatSession:
        """Exchange a ``wx.login()`` code for the user's openid (and unionid when present)."""
        if not self.configured:
            raise WechatNotConfigured()
        params = {
            "appid": self.app_id,
            "secret": self._app_secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        url = f"{self.api_base}/sns/jscode2session"
        try:
            if self._http is not None:
                response = self._http.get(url, params=params, timeout=TIMEOUT_S)
            else:
                with httpx.Client(timeout=TIMEOUT_S) as http:
                    response = http.get(url, params=params)
        except httpx.HTTPError as exc:
            log.warning("wechat jscode2session unreachable: %s", type(exc).__name__)
            raise WechatError(None, "network error") from exc
        if response.status_code >= 400:
            log.warning("wechat jscode2session answered HTTP %s", response.status_code)
            raise WechatError(None, f"http {response.status_code}")
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise WechatError(None, "invalid json") from exc
        if not isinstance(body, dict):
            raise WechatError(None, "invalid body")
        errcode = body.get("errcode") or 0  # success replies usually carry no errcode at all
        if errcode != 0:
            errmsg = str(body.get("errmsg", ""))
            log.info("wechat jscode2session refused: %s %s", errcode, errmsg)
            raise WechatError(int(errcode), errmsg)
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WechatError(None, "no openid")
        unionid = body.get("unionid")
        return WechatSession(
            openid=openid,
            unionid=unionid if isinstance(unionid, str) and unionid else None,
            session_key=str(body.get("session_key", "")),
        )


def client_from_settings(settings: Settings) -> WechatClient:
    wechat = settings.wechat
    return WechatClient(
        api_base=wechat.api_base,
        app_id=wechat.app_id,
        app_secret=wechat.app_secret.get_secret_value(),
    )
