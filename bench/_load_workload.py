"""The load generator of bench/load.py: the workload mix and its requests, run in a process of its own.

Each chunk of a step is a schedule of (due time, action) made by the bench; this process sends the
requests at their due times whatever the answers take (open loop) over a pool of keep-alive connections,
and returns one sample per request — latency counted from the due time — plus what the bench must
verify afterwards: the reports answered 201 and the payment notifications answered.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from _harness import TRANSPORT_ERRORS, ConnectionPool, http_request, multipart

# User actions per 100; each is one request, except a photo report: the upload, then the report.
MIX: dict[str, int] = {
    "photo_report": 6,
    "my_cases": 12,
    "case_detail": 16,
    "nearby": 22,
    "places": 22,
    "staff_queue": 14,
    "pay_notify": 6,
    "pay_duplicate": 2,
}
REQUESTS_PER_ACTION = 1 + MIX["photo_report"] / sum(MIX.values())
# The endpoint classes measured (a photo report is an upload and a report), in table order.
ENDPOINTS = ["upload", "report", *(action for action in MIX if action != "photo_report")]
CATEGORIES = ["BJ0110", "BJ0101", "BJ0105", "SJ0101", "SJ0104", "SJ0401"]
STAFF_QUEUES = [
    ("operator", "to-register"),
    ("operator", "all"),
    ("dispatcher", "to-dispatch"),
    ("shiftlead", "overdue"),
]
NOTIFY_PATH = "/api/v1/payments/notify/wechat"

CONNECTIONS = 256
REQUEST_TIMEOUT_S = 15.0


# ---------------------------------------------------------------- the generator process


@dataclass
class Static:
    """What the load generator needs for the whole run (sent once to its process)."""

    port: int
    citizen_tokens: list[str]
    staff_tokens: dict[str, str]
    points: list[tuple[float, float]]
    photos: list[bytes]


@dataclass
class Chunk:
    label: str
    schedule: list[tuple[float, str]]  # (seconds from the start, action)
    duration_s: float
    notifications: list[tuple[str, bytes]]  # (out_trade_no, request), one per pay_notify action
    known_cases: dict[int, list[str]]  # citizen index → recent case numbers
    seed: int


@dataclass
class ChunkResult:
    # (endpoint, seconds from the start when due, latency s, HTTP status or 0, transport error or "")
    samples: list[tuple[str, float, float, int, str]] = field(default_factory=list)
    reports: list[tuple[int, str, str]] = field(default_factory=list)  # (citizen, case_no, upload_id) per 201
    notified: list[tuple[str, int]] = field(default_factory=list)  # (out_trade_no, status) of first sends
    skipped: int = 0  # duplicates with nothing answered yet to repeat
    elapsed_s: float = 0.0  # start → last answer
    late_s: float = 0.0  # how far behind its schedule the generator ever started an action
    failures: list[str] = field(default_factory=list)  # a few non-2xx answers and errors, for the log


_STATIC: Static | None = None


def init_generator(static: Static) -> None:
    global _STATIC
    _STATIC = static
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass


def run_chunk(chunk: Chunk) -> ChunkResult:
    assert _STATIC is not None
    return asyncio.run(_Generator(_STATIC, chunk).run())


class _Generator:
    def __init__(self, static: Static, chunk: Chunk) -> None:
        self.static = static
        self.chunk = chunk
        self.rng = random.Random(chunk.seed)
        self.result = ChunkResult()
        self.known = defaultdict(list, {k: list(v) for k, v in chunk.known_cases.items()})
        self.pending_notifications = iter(chunk.notifications)
        self.answered: list[bytes] = []
        self.count = 0
        self.pool: ConnectionPool | None = None
        self.t0 = 0.0
        self.last_done = 0.0

    async def run(self) -> ChunkResult:
        loop = asyncio.get_running_loop()
        self.pool = ConnectionPool(self.static.port, CONNECTIONS)
        self.t0 = loop.time() + 0.1
        tasks = []
        try:
            for offset, action in self.chunk.schedule:
                delay = self.t0 + offset - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    self.result.late_s = max(self.result.late_s, -delay)
                tasks.append(asyncio.create_task(self.act(action, self.t0 + offset)))
            await asyncio.gather(*tasks)
        finally:
            self.pool.close()
        self.result.elapsed_s = max(self.chunk.duration_s, self.last_done - self.t0)
        return self.result

    async def call(
        self, endpoint: str, due: float, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        """One request; its sample (latency from ``due``) is recorded. (0, b"") on a transport error."""
        assert self.pool is not None
        self.count += 1
        request_id = f"load-{self.chunk.label}-{self.count}"
        data = http_request(method, target, self.static.port, {**headers, "X-Request-Id": request_id}, body)
        return await self.send(endpoint, due, data, request_id)

    async def send(self, endpoint: str, due: float, data: bytes, request_id: str = "") -> tuple[int, bytes]:
        assert self.pool is not None
        loop = asyncio.get_running_loop()
        try:
            status, answer = await self.pool.request(data, REQUEST_TIMEOUT_S)
            error = ""
        except TRANSPORT_ERRORS as exc:
            status, answer, error = 0, b"", type(exc).__name__
        done = loop.time()
        self.last_done = max(self.last_done, done)
        self.result.samples.append((endpoint, due - self.t0, done - due, status, error))
        if (status >= 400 or error) and len(self.result.failures) < 8:
            what = error or f"HTTP {status}: {answer[:240].decode(errors='replace')}"
            self.result.failures.append(f"{endpoint} [{request_id}] {what}")
        return status, answer

    def citizen(self) -> tuple[int, dict[str, str]]:
        k = self.rng.randrange(len(self.static.citizen_tokens))
        return k, {"Authorization": f"Bearer {self.static.citizen_tokens[k]}"}

    def point(self) -> str:
        lng, lat = self.rng.choice(self.static.points)
        return f"lng={lng:.6f}&lat={lat:.6f}&coord=wgs84"

    async def act(self, action: str, due: float) -> None:
        if action == "photo_report":
            await self.photo_report(due)
        elif action == "case_detail" and self.known:
            k = self.rng.choice(list(self.known))
            token = {"Authorization": f"Bearer {self.static.citizen_tokens[k]}"}
            case_no = self.rng.choice(self.known[k])
            await self.call("case_detail", due, "GET", f"/api/v1/reports/{case_no}", token)
        elif action in {"my_cases", "case_detail"}:  # no case known yet: the list instead
            _k, token = self.citizen()
            await self.call("my_cases", due, "GET", "/api/v1/reports/mine?limit=20", token)
        elif action == "nearby":
            await self.call("nearby", due, "GET", f"/api/v1/reports/nearby?{self.point()}&radius=500", {})
        elif action == "places":
            kind = self.rng.choice(["toilet", "parking"])
            await self.call("places", due, "GET", f"/api/v1/places?kind={kind}&{self.point()}&limit=10", {})
        elif action == "staff_queue":
            username, queue = self.rng.choice(STAFF_QUEUES)
            token = {"Authorization": f"Bearer {self.static.staff_tokens[username]}"}
            await self.call("staff_queue", due, "GET", f"/api/v1/staff/cases?queue={queue}&limit=50", token)
        elif action == "pay_notify":
            out_trade_no, data = next(self.pending_notifications)
            status, _ = await self.send("pay_notify", due, data, out_trade_no)
            self.result.notified.append((out_trade_no, status))
            if status == 204:
                self.answered.append(data)
        elif action == "pay_duplicate":
            if not self.answered:
                self.result.skipped += 1
                return
            await self.send("pay_duplicate", due, self.rng.choice(self.answered), "duplicate")
        else:
            raise ValueError(action)

    async def photo_report(self, due: float) -> None:
        k, token = self.citizen()
        photo = self.rng.choice(self.static.photos)
        # A comment segment right after the JPEG's SOI makes every upload's bytes (and original) unique.
        comment = uuid.uuid4().hex.encode()
        photo = photo[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + photo[2:]
        content_type, body = multipart("file", "photo.jpg", "image/jpeg", photo)
        status, answer = await self.call(
            "upload", due, "POST", "/api/v1/uploads", {**token, "Content-Type": content_type}, body
        )
        if status != 201:
            return
        upload_id = json.loads(answer)["id"]
        lng, lat = self.rng.choice(self.static.points)
        report = {
            "category": self.rng.choice(CATEGORIES),
            "description": "路边井盖破损，存在安全隐患（负载压测）",
            "lng": lng,
            "lat": lat,
            "coord": "wgs84",
            "upload_ids": [upload_id],
        }
        headers = {**token, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        content = json.dumps(report, ensure_ascii=False).encode()
        now = asyncio.get_running_loop().time()
        status, answer = await self.call("report", now, "POST", "/api/v1/reports", headers, content)
        if status == 201:
            case_no = json.loads(answer)["case_no"]
            self.result.reports.append((k, case_no, upload_id))
            self.known[k] = [*self.known[k][-19:], case_no]


def schedule(rate: float, duration_s: float, rng: random.Random) -> list[tuple[float, str]]:
    """Poisson arrivals of actions at ``rate`` requests/s over ``duration_s``."""
    actions, weights = list(MIX), list(MIX.values())
    per_s = rate / REQUESTS_PER_ACTION
    plan, t = [], rng.expovariate(per_s)
    while t < duration_s:
        plan.append((t, rng.choices(actions, weights)[0]))
        t += rng.expovariate(per_s)
    return plan


def make_photos(seed: int, count: int = 4) -> list[bytes]:
    """Photos as the mini-program sends them (``wx.compressImage``: 1600 px wide, quality 60)."""
    from PIL import Image

    rng = random.Random(seed)
    photos = []
    for _ in range(count):
        base = Image.frombytes("RGB", (40, 30), bytes(rng.randrange(256) for _ in range(40 * 30 * 3)))
        image = base.resize((1600, 1200), Image.Resampling.BICUBIC)
        grain = Image.effect_noise((1600, 1200), 40).convert("RGB")
        buffer = io.BytesIO()
        Image.blend(image, grain, 0.2).save(buffer, "JPEG", quality=60)
        photos.append(buffer.getvalue())
    return photos
