"""scripts/deploy_check.py: the checks pass on deploy/ as it is and catch what drifts (a missing key, a
program or argument that no longer exists, a Procfile that runs something else, an nginx file without
what the app needs)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_check", ROOT / "scripts" / "deploy_check.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_check"] = module
    spec.loader.exec_module(module)
    return module


check = _load()


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of deploy/ to break (programs and arguments are not run against it)."""
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    return tmp_path


def static_problems(root: Path) -> list[str]:
    report = check.Report()
    check.check_units(report, root, run_commands=False)
    return list(report.problems)


def test_the_deploy_folder_passes() -> None:
    report = check.Report()
    check.check_units(report, ROOT)  # programs and arguments included
    assert report.problems == []
    text = (ROOT / "deploy" / "nginx" / "zhcg.conf").read_text(encoding="utf-8")
    assert check.check_nginx_text(text, max_upload_bytes=15 * 1024 * 1024, root=ROOT) == []
    report = check.Report()
    check.check_env_example(report, ROOT)
    assert report.problems == []


def test_missing_keys_and_foreign_paths_are_reported(copy: Path) -> None:
    unit = copy / "deploy" / "systemd" / "zhcg-cron.service"
    unit.write_text(unit.read_text(encoding="utf-8").replace("Restart=always\n", ""), encoding="utf-8")
    api = copy / "deploy" / "systemd" / "zhcg-api@.service"
    text = api.read_text(encoding="utf-8")
    text = text.replace("EnvironmentFile=/etc/zhcg/zhcg.env", "EnvironmentFile=/opt/zhcg/.env")
    text = text.replace("ExecStart=/opt/zhcg/.venv/bin/zhcg", "ExecStart=/usr/local/bin/zhcg")
    api.write_text(text, encoding="utf-8")
    problems = static_problems(copy)
    assert "zhcg-cron.service: [Service] Restart= is missing" in problems
    assert any("zhcg-api@.service: EnvironmentFile should be /etc/zhcg/zhcg.env" in p for p in problems)
    assert any(
        "zhcg-api@.service: ExecStart should run a program of /opt/zhcg/.venv/bin" in p for p in problems
    )
    (copy / "deploy" / "systemd" / "zhcg-hotline.service").unlink()
    assert "deploy/systemd/zhcg-hotline.service is missing" in static_problems(copy)


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["/opt/zhcg/.venv/bin/zhcg", "serve", "--host", "127.0.0.1", "--port", "8001"], None),
        (["/opt/zhcg/.venv/bin/python", "-m", "workers", "cron"], None),
        (["/opt/zhcg/.venv/bin/zhcg", "serve", "--port", "eighty"], "arguments do not parse"),
        (["/opt/zhcg/.venv/bin/zhcg", "serve", "--workers", "4"], "arguments do not parse"),
        (["/opt/zhcg/.venv/bin/python", "-m", "workers", "sometimes"], "arguments do not parse"),
        # Unlike `--help`, the dry run also catches an unknown option.
        (["/opt/zhcg/.venv/bin/python", "-m", "hotline", "--verbose"], "arguments do not parse"),
        (["/opt/zhcg/.venv/bin/gunicorn", "api.main:create_app"], "no such program"),
    ],
)
def test_programs_and_arguments_are_dry_run(argv: list[str], problem: str | None) -> None:
    problems = check.check_command(argv, ROOT, timeout_s=120)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1
        assert problem in problems[0]


def test_the_procfile_must_run_what_the_units_run(copy: Path) -> None:
    procfile = copy / "deploy" / "Procfile"
    text = procfile.read_text(encoding="utf-8")
    text = text.replace(
        "worker: .venv/bin/python -m workers worker", "worker: .venv/bin/python -m workers --burst"
    )
    text = text.replace("--port $PORT", "--port 8000")
    procfile.write_text(text + "web: .venv/bin/uvicorn api.main:create_app\n", encoding="utf-8")
    problems = static_problems(copy)
    assert any(p.startswith("Procfile: 'worker' runs") for p in problems)
    assert any(p.startswith("Procfile: 'api' runs") for p in problems)
    assert "Procfile: 'web' has no systemd unit in deploy/systemd" in problems


def test_nginx_without_what_the_app_needs_is_reported() -> None:
    text = (ROOT / "deploy" / "nginx" / "zhcg.conf").read_text(encoding="utf-8")
    broken = text.replace("proxy_set_header X-Request-Id $request_id;", "").replace(
        "client_max_body_size 16m;", "client_max_body_size 1m;"
    )
    broken = broken.replace("location = /metrics { return 404; }", "")
    problems = check.check_nginx_text(broken, max_upload_bytes=15 * 1024 * 1024, root=ROOT)
    assert "nginx: no directive that passes its request id (X-Request-Id)" in problems
    assert "nginx: no directive that keeps /metrics off the public site" in problems
    assert "nginx: client_max_body_size 1m is below ZHCG_STORAGE__MAX_UPLOAD_BYTES" in problems


def test_nginx_t_accepts_the_site_and_refuses_a_broken_one() -> None:
    nginx = check.find_nginx(None) or next(
        (str(p) for p in [ROOT / "var" / "tools" / "nginx" / "usr" / "sbin" / "nginx"] if p.is_file()), None
    )
    if nginx is None:
        pytest.skip("no nginx here (make deploy-check fetches one into var/tools)")
    text = (ROOT / "deploy" / "nginx" / "zhcg.conf").read_text(encoding="utf-8")
    ok, output = check.nginx_test(nginx, text, ROOT)
    assert ok, output
    ok, output = check.nginx_test(nginx, text.replace("keepalive 32;", "keepalive thirty-two;"), ROOT)
    assert not ok
    assert "keepalive" in output


def test_systemd_analyze_verify_reports_an_unknown_key(copy: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    report = check.Report()
    check.systemd_verify(report, ROOT)
    assert report.problems == []
    unit = copy / "deploy" / "systemd" / "zhcg-cron.service"
    unit.write_text(
        unit.read_text(encoding="utf-8").replace("RestartSec=5", "RestartSecs=5"), encoding="utf-8"
    )
    (copy / ".venv").symlink_to(ROOT / ".venv")  # the programs exist in the copy too
    report = check.Report()
    check.systemd_verify(report, copy)
    assert len(report.problems) == 1
    assert "RestartSecs" in report.problems[0]
