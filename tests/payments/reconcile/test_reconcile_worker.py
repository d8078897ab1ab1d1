"""``payments.reconcile`` in a real RQ worker process pointed at the local fake WeChat Pay: the job runs
from its registry path with string arguments; a provider error records the run and is retried with the
job spec's back-off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from core.jobs import JOBS, PendingJob, RQDispatcher, configure_jobs
from core.models import MismatchKind, PaymentChannel
from core.settings import Settings, get_settings
from payments.sandbox.wechatpay import FakeWechatPay, running_fake_wechatpay
from tests.fixtures.worker import run_worker
from tests.payments.reconcile.books import Committed

WECHAT = PaymentChannel.WECHAT


@pytest.fixture
def wechat() -> Iterator[FakeWechatPay]:
    with running_fake_wechatpay() as fake:
        yield fake


def environment(fake: FakeWechatPay, *, api_base: str | None = None) -> dict[str, str]:
    """The worker's settings: WeChat Pay is the fake, Alipay is not configured."""
    group = fake.settings_for(get_settings(), notify_url="https://zhcg.example/notify/wechat").wechatpay
    return {
        "ZHCG_WECHATPAY__MCH_ID": group.mch_id,
        "ZHCG_WECHATPAY__APP_ID": group.app_id,
        "ZHCG_WECHATPAY__APIV3_KEY": group.apiv3_key.get_secret_value(),
        "ZHCG_WECHATPAY__PRIVATE_KEY_PATH": str(group.private_key_path),
        "ZHCG_WECHATPAY__CERT_SERIAL_NO": group.cert_serial_no,
        "ZHCG_WECHATPAY__PUBLIC_KEY_PATH": str(group.public_key_path),
        "ZHCG_WECHATPAY__PUBLIC_KEY_ID": group.public_key_id,
        "ZHCG_WECHATPAY__API_BASE": api_base or group.api_base,
        "ZHCG_WECHATPAY__NOTIFY_URL": group.notify_url,
        "ZHCG_ALIPAY__APP_ID": "",
    }


def dispatcher(settings: Settings) -> RQDispatcher:
    sender = configure_jobs(settings)
    assert isinstance(sender, RQDispatcher)
    return sender


def test_the_job_reconciles_the_day_asked_for(
    rq_settings: Settings, wechat: FakeWechatPay, committed: Committed
) -> None:
    day = committed.unused_day()
    stray = wechat.add_bill_trade(amount_fen=12345, bill_date=day)
    dispatcher(rq_settings).send(
        PendingJob("payments.reconcile", {"channel": "wechat", "bill_date": day.isoformat()})
    )

    result = run_worker(rq_settings, environment(wechat))
    assert result.returncode == 0, result.stderr[-3000:]

    run, items = committed.run(WECHAT, day)
    assert run.error == ""
    assert [(item.kind, item.out_trade_no, item.bill_fen) for item in items] == [
        (MismatchKind.MISSING_LOCALLY, stray.out_trade_no, 12345)
    ]


def test_a_provider_error_is_recorded_and_retried(
    rq_settings: Settings, wechat: FakeWechatPay, committed: Committed
) -> None:
    day = committed.unused_day()
    dispatcher(rq_settings).send(
        PendingJob("payments.reconcile", {"channel": "wechat", "bill_date": day.isoformat()})
    )

    result = run_worker(rq_settings, environment(wechat, api_base="http://127.0.0.1:9"))
    assert result.returncode == 0, result.stderr[-3000:]

    run, items = committed.run(WECHAT, day)
    assert run.error.startswith("provider_unavailable: ")
    assert items == []
    queue = Queue(
        f"{rq_settings.redis.queue_prefix}-payments", connection=Redis.from_url(str(rq_settings.redis.url))
    )
    registry = ScheduledJobRegistry(queue=queue)
    [job_id] = registry.get_job_ids()
    job = Job.fetch(job_id, connection=queue.connection)
    assert job.retries_left == len(JOBS["payments.reconcile"].retries) - 1

    registry.requeue(job_id)  # the back-off has passed and WeChat Pay is back
    result = run_worker(rq_settings, environment(wechat))
    assert result.returncode == 0, result.stderr[-3000:]
    again, _ = committed.run(WECHAT, day)
    assert (again.id, again.error) == (run.id, "")
    Job.fetch(job_id, connection=queue.connection).delete()
