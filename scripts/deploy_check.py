"""``make deploy-check``: the production layout in ``deploy/`` (docs/deploy.md) still matches the code.

- every systemd unit parses, has the keys a zhcg unit needs and runs from the install prefix with the
  shared settings file; each ``ExecStart`` program exists in this checkout once ``/opt/zhcg`` is mapped
  to it, and its arguments parse (the command's own argparse parser is run and stopped right after
  parsing: nothing starts);
- ``deploy/Procfile`` runs the same commands as the units;
- ``deploy/nginx/zhcg.conf`` has what the app relies on (X-Request-Id, X-Forwarded-For, a body size
  for photos, /metrics kept private) and passes ``nginx -t`` (with a throw-away certificate);
- ``systemd-analyze verify`` accepts the units;
- ``deploy/zhcg.env.example`` names only real settings, is refused as it is (placeholder secrets) and
  accepted in production once they are replaced;
- ``scripts/restore-test.sh --self-test``: a pg_dump restores and reads back (needs PostgreSQL).

A tool that is missing here (nginx, systemd-analyze, PostgreSQL) is skipped with a note, never failed.
``--fetch-nginx DIR`` unpacks Debian's nginx package into DIR (``apt-get download``: no install, no
service started) when no nginx is on the PATH. Exit status 1 when something is wrong.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PREFIX = "/opt/zhcg"
ENV_FILE = "/etc/zhcg/zhcg.env"
TARGET = "zhcg.target"
# unit file → Procfile process type
UNITS = {
    "zhcg-api@.service": "api",
    "zhcg-worker@.service": "worker",
    "zhcg-cron.service": "cron",
    "zhcg-hotline.service": "hotline",
    "zhcg-migrate.service": "release",
}
INSTANCES = {"zhcg-api@.service": "8001", "zhcg-worker@.service": "1"}
PORT_VARIABLE = {"api": "$PORT"}  # the Procfile runner's port where the unit has its instance name
REQUIRED_KEYS = {
    "Unit": ("Description",),
    "Service": ("Type", "User", "WorkingDirectory", "EnvironmentFile", "ExecStart"),
}
LONG_RUNNING_KEYS = {"Service": ("Restart", "KillSignal", "TimeoutStopSec"), "Install": ("WantedBy",)}
NGINX_REQUIRED = (
    (r"proxy_set_header\s+X-Request-Id\s+\$request_id;", "passes its request id (X-Request-Id)"),
    (r"proxy_set_header\s+X-Forwarded-For\s+\S+;", "passes the client address (X-Forwarded-For)"),
    (r"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;", "passes the scheme (X-Forwarded-Proto)"),
    (r"location\s*=\s*/metrics\s*\{\s*return\s+404;", "keeps /metrics off the public site"),
    (r"ssl_certificate\s+\S+;", "serves TLS"),
    (r"proxy_pass\s+http://zhcg_api;", "proxies to the zhcg_api upstream"),
)

# Runs a command's argparse parser and stops right after parsing (nothing is started): argv[1] is
# "module" (python -m …) or "script" (a console script of the venv), argv[2] its name, the rest its args.
DRY_RUN = r"""
import argparse, runpy, sys
from importlib.metadata import entry_points

class Parsed(BaseException):
    pass

_parse_args = argparse.ArgumentParser.parse_args

def parse_args(self, args=None, namespace=None):
    raise Parsed(_parse_args(self, args, namespace))

argparse.ArgumentParser.parse_args = parse_args
kind, name, *rest = sys.argv[1:]
sys.argv = [name, *rest]
try:
    if kind == "module":
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    else:
        (entry,) = [e for e in entry_points(group="console_scripts") if e.name == name]
        entry.load()()
except Parsed as parsed:
    print(f"parsed: {parsed.args[0]}")
    sys.exit(0)
sys.exit("the command ran without parsing its arguments")
"""


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str, problem: str) -> None:
        (self.passed if ok else self.problems).append(what if ok else problem)

    def extend(self, problems: list[str], what: str) -> None:
        self.problems.extend(problems)
        if not problems:
            self.passed.append(what)


def run(
    argv: list[str], *, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """One command of these checks (a fixed argv, no shell), its output captured."""
    return subprocess.run(  # noqa: S603
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def tool(name: str) -> str | None:
    return shutil.which(name)


# --- systemd units ----------------------------------------------------------------------------------


def read_unit(path: Path) -> configparser.ConfigParser:
    """A unit file as sections of keys (case kept; a repeated key keeps its last value)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


def check_unit(name: str, unit: configparser.ConfigParser) -> list[str]:
    """The keys and values every zhcg unit must have."""
    problems: list[str] = []
    required: dict[str, tuple[str, ...]] = dict(REQUIRED_KEYS)
    long_running = name != "zhcg-migrate.service"
    if long_running:
        for section, keys in LONG_RUNNING_KEYS.items():
            required[section] = required.get(section, ()) + keys
    for section, keys in required.items():
        for key in keys:
            if not unit.get(section, key, fallback="").strip():
                problems.append(f"{name}: [{section}] {key}= is missing")
    if problems:
        return problems
    if unit.get("Service", "WorkingDirectory") != PREFIX:
        problems.append(f"{name}: WorkingDirectory should be {PREFIX}")
    if unit.get("Service", "EnvironmentFile").lstrip("-") != ENV_FILE:
        problems.append(f"{name}: EnvironmentFile should be {ENV_FILE} (one settings file for every process)")
    program = exec_argv(unit, "x")[0]
    if not program.startswith(f"{PREFIX}/.venv/bin/"):
        problems.append(f"{name}: ExecStart should run a program of {PREFIX}/.venv/bin, not {program}")
    if long_running:
        if unit.get("Install", "WantedBy") != TARGET:
            problems.append(f"{name}: WantedBy should be {TARGET}")
        if unit.get("Unit", "PartOf", fallback="") != TARGET:
            problems.append(f"{name}: PartOf={TARGET} is missing (restarting the target restarts it)")
    elif unit.get("Service", "Type") != "oneshot":
        problems.append(f"{name}: migrations run once: Type=oneshot")
    return problems


def exec_argv(unit: configparser.ConfigParser, instance: str) -> list[str]:
    """ExecStart as argv, the instance name put in for %i (systemd's prefixes - @ + ! removed)."""
    line = unit.get("Service", "ExecStart").lstrip("-@+!:")
    return shlex.split(line.replace("%i", instance).replace("%I", instance))


def local_path(path: str, root: Path = ROOT) -> Path:
    """Where an installed path is in this checkout (``/opt/zhcg/x`` → ``<root>/x``)."""
    if path == PREFIX or path.startswith(f"{PREFIX}/"):
        return root / path[len(PREFIX) :].lstrip("/")
    return Path(path)


def check_command(argv: list[str], root: Path = ROOT, timeout_s: float = 120) -> list[str]:
    """The program exists and is executable here, and its arguments parse (a dry run of its parser)."""
    program = local_path(argv[0], root)
    if not (program.is_file() and os.access(program, os.X_OK)):
        return [f"{argv[0]}: no such program ({program} after install)"]
    name = program.name
    if name.startswith("python") and len(argv) >= 3 and argv[1] == "-m":
        command = [str(program), "-c", DRY_RUN, "module", argv[2], *argv[3:]]
    else:
        command = [str(program.parent / "python"), "-c", DRY_RUN, "script", name, *argv[1:]]
    result = run(command, cwd=root, timeout=timeout_s)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        return [f"{shlex.join(argv)}: arguments do not parse: {detail}"]
    return []


def relative_command(argv: list[str], process: str) -> list[str]:
    """A unit's argv as the Procfile writes it: relative to the release folder, $PORT for %i."""
    relative = [item[len(PREFIX) + 1 :] if item.startswith(f"{PREFIX}/") else item for item in argv]
    placeholder = PORT_VARIABLE.get(process)
    return [placeholder if placeholder and item == "%i" else item for item in relative]


def read_procfile(path: Path) -> dict[str, str]:
    processes: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if found:
            processes[found.group(1)] = found.group(2).strip()
    return processes


def check_procfile(procfile: dict[str, str], units: dict[str, configparser.ConfigParser]) -> list[str]:
    problems: list[str] = []
    for name, process in UNITS.items():
        if name not in units:
            continue
        if process not in procfile:
            problems.append(f"Procfile: no '{process}' process (systemd has {name})")
            continue
        raw = units[name].get("Service", "ExecStart").lstrip("-@+!:")
        expected = relative_command(shlex.split(raw), process)
        if shlex.split(procfile[process]) != expected:
            problems.append(
                f"Procfile: '{process}' runs {procfile[process]!r}, {name} runs {shlex.join(expected)!r}"
            )
    for process in sorted(set(procfile) - set(UNITS.values())):
        problems.append(f"Procfile: '{process}' has no systemd unit in deploy/systemd")
    return problems


def check_units(
    report: Report, root: Path = ROOT, *, run_commands: bool = True
) -> dict[str, configparser.ConfigParser]:
    folder = root / "deploy" / "systemd"
    units: dict[str, configparser.ConfigParser] = {}
    for name in [*UNITS, TARGET]:
        path = folder / name
        if not path.is_file():
            report.problems.append(f"deploy/systemd/{name} is missing")
            continue
        try:
            units[name] = read_unit(path)
        except configparser.Error as exc:
            report.problems.append(f"deploy/systemd/{name} does not parse: {exc}")
    for extra in sorted(p.name for p in folder.iterdir() if p.name not in units and p.name not in UNITS):
        report.notes.append(f"deploy/systemd/{extra}: not checked (unknown to this checker)")
    if TARGET in units:
        target = units[TARGET]
        report.check(
            bool(target.get("Unit", "Description", fallback=""))
            and target.get("Install", "WantedBy", fallback="") == "multi-user.target",
            f"{TARGET}: description, wanted by multi-user.target",
            f"{TARGET}: needs Description= and WantedBy=multi-user.target",
        )
    for name, process in UNITS.items():
        if name not in units:
            continue
        problems = check_unit(name, units[name])
        if not problems and run_commands:
            problems = check_command(exec_argv(units[name], INSTANCES.get(name, "x")), root)
        report.extend(problems, f"{name}: keys, install paths, `{process}` command parses")
    procfile = root / "deploy" / "Procfile"
    if procfile.is_file():
        report.extend(
            check_procfile(read_procfile(procfile), units), "deploy/Procfile: same commands as the units"
        )
    else:
        report.problems.append("deploy/Procfile is missing")
    return units


def systemd_verify(report: Report, root: Path = ROOT) -> None:
    analyze = tool("systemd-analyze")
    if analyze is None:
        report.notes.append("systemd-analyze not installed: `systemd-analyze verify` skipped")
        return
    with tempfile.TemporaryDirectory(prefix="zhcg-units-") as folder:
        files: list[str] = []
        for path in sorted((root / "deploy" / "systemd").iterdir()):
            text = path.read_text(encoding="utf-8").replace(PREFIX, str(root))
            name = path.name.replace("@.", f"@{INSTANCES.get(path.name, '1')}.")
            (Path(folder) / name).write_text(text, encoding="utf-8")
            files.append(name)
        result = run([analyze, "verify", "--man=no", *files], cwd=Path(folder), timeout=120)
    output = (result.stdout + result.stderr).strip()
    report.check(
        result.returncode == 0 and not output,
        "systemd-analyze verify: the units load without warnings",
        f"systemd-analyze verify: exit {result.returncode}: {output}",
    )


# --- nginx ------------------------------------------------------------------------------------------


def check_nginx_text(text: str, *, max_upload_bytes: int, root: Path = ROOT) -> list[str]:
    problems = [
        f"nginx: no directive that {what}" for pattern, what in NGINX_REQUIRED if not re.search(pattern, text)
    ]
    size = re.search(r"client_max_body_size\s+(\d+)([kKmMgG]?);", text)
    factor = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    if size is None:
        problems.append("nginx: no client_max_body_size (nginx's 1 MB default refuses photos)")
    elif int(size.group(1)) * factor[size.group(2).lower()] < max_upload_bytes:
        limit = f"{size.group(1)}{size.group(2)}"
        problems.append(f"nginx: client_max_body_size {limit} is below ZHCG_STORAGE__MAX_UPLOAD_BYTES")
    if not re.findall(r"server\s+127\.0\.0\.1:(\d+)", text):
        problems.append("nginx: the zhcg_api upstream lists no API process (127.0.0.1:PORT)")
    for alias in re.findall(r"alias\s+(\S+);", text):
        if not local_path(alias, root).is_dir():
            problems.append(f"nginx: alias {alias} is not a folder of the release")
    return problems


def find_nginx(fetch_dir: Path | None) -> str | None:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if found or fetch_dir is None:
        return found
    unpacked = fetch_dir / "nginx" / "usr" / "sbin" / "nginx"
    if os.access(unpacked, os.X_OK):
        return str(unpacked)
    apt_get, dpkg = tool("apt-get"), tool("dpkg")
    if apt_get is None or dpkg is None:
        return None
    download = fetch_dir / "download"
    download.mkdir(parents=True, exist_ok=True)
    fetched = run([apt_get, "download", "-q", "nginx"], cwd=download, timeout=300)
    debs = sorted(download.glob("nginx_*.deb"))
    if fetched.returncode != 0 or not debs:
        return None
    run([dpkg, "-x", str(debs[-1]), str(fetch_dir / "nginx")], timeout=120)
    return str(unpacked) if os.access(unpacked, os.X_OK) else None


def self_signed(folder: Path) -> tuple[Path, Path]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zhcg.deploy-check.invalid")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "test.crt", folder / "test.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def nginx_test(nginx: str, text: str, root: Path = ROOT) -> tuple[bool, str]:
    """``nginx -t`` on the site file inside a minimal main configuration; certificates, logs and paths of
    the install are pointed at a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="zhcg-nginx-") as name:
        folder = Path(name)
        cert, key = self_signed(folder)
        site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", text)
        site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", site)
        site = re.sub(r"(access_log|error_log)\s+/\S+", rf"\1 {folder}/site.log", site)
        site = site.replace(PREFIX, str(root))
        (folder / "zhcg.conf").write_text(site, encoding="utf-8")
        temp_paths = " ".join(
            f"{kind}_temp_path {folder}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (folder / "nginx.conf").write_text(
            f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
            f"http {{\n  access_log {folder}/access.log;\n  {temp_paths}\n"
            f"  include {folder}/zhcg.conf;\n}}\n",
            encoding="utf-8",
        )
        error_log = str(folder / "error.log")
        result = run(
            [nginx, "-t", "-q", "-p", str(folder), "-e", error_log, "-c", str(folder / "nginx.conf")],
            timeout=60,
        )
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def check_nginx(report: Report, fetch_dir: Path | None, root: Path = ROOT) -> None:
    from core.settings import StorageSettings

    path = root / "deploy" / "nginx" / "zhcg.conf"
    if not path.is_file():
        report.problems.append("deploy/nginx/zhcg.conf is missing")
        return
    text = path.read_text(encoding="utf-8")
    report.extend(
        check_nginx_text(text, max_upload_bytes=StorageSettings().max_upload_bytes, root=root),
        "deploy/nginx/zhcg.conf: request id, client address, body size, private /metrics, static files",
    )
    nginx = find_nginx(fetch_dir)
    if nginx is None:
        report.notes.append("nginx not available: `nginx -t` skipped (make deploy-check fetches it with apt)")
        return
    ok, output = nginx_test(nginx, text, root)
    report.check(ok, f"nginx -t ({nginx}): the site configuration is valid", f"nginx -t: {output}")


# --- the settings file ------------------------------------------------------------------------------

PLACEHOLDER_CHECK = r"""
import sys
from pydantic import ValidationError
from core.settings import Settings
try:
    Settings(_env_file=sys.argv[1])
except ValidationError as exc:
    print(exc.errors()[0]["msg"])
    sys.exit(3)
"""


def env_names(path: Path) -> set[str]:
    return set(
        re.findall(r"^\s*#?\s*(ZHCG_[A-Z0-9_]+)=", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    )


def check_env_example(report: Report, root: Path = ROOT) -> None:
    path = root / "deploy" / "zhcg.env.example"
    if not path.is_file():
        report.problems.append("deploy/zhcg.env.example is missing")
        return
    unknown = sorted(env_names(path) - env_names(root / ".env.example"))
    report.check(
        not unknown,
        "deploy/zhcg.env.example: only real settings",
        f"deploy/zhcg.env.example: unknown settings {unknown}",
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("ZHCG_")}
    python = root / ".venv" / "bin" / "python"

    def load(file: Path) -> subprocess.CompletedProcess[str]:
        return run([str(python), "-c", PLACEHOLDER_CHECK, str(file)], cwd=root, env=env, timeout=60)

    as_is = load(path)
    report.check(
        as_is.returncode == 3 and "placeholder" in as_is.stdout,
        "deploy/zhcg.env.example: refused as it is (placeholder secrets)",
        f"deploy/zhcg.env.example is not refused for its placeholder secrets: {as_is.stdout or as_is.stderr}",
    )
    with tempfile.TemporaryDirectory(prefix="zhcg-env-") as folder:
        filled = Path(folder) / "zhcg.env"
        filled.write_text(
            re.sub(
                r"=changethis$",
                "=" + "s3cret-" + "x" * 40,
                path.read_text(encoding="utf-8"),
                flags=re.MULTILINE,
            ),
            encoding="utf-8",
        )
        result = load(filled)
    report.check(
        result.returncode == 0,
        "deploy/zhcg.env.example: valid in production once the secrets are set",
        f"deploy/zhcg.env.example with real secrets does not load: {result.stdout or result.stderr}",
    )


# --- restore test -----------------------------------------------------------------------------------


def restore_test(report: Report, root: Path = ROOT) -> None:
    psql, bash = tool("psql"), tool("bash")
    if psql is None or bash is None or tool("pg_restore") is None:
        report.notes.append("PostgreSQL client tools not installed: restore test skipped")
        return
    admin = os.environ.get("ZHCG_RESTORE_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    if run([psql, admin, "-qtAXc", "SELECT 1"], timeout=30).returncode != 0:
        report.notes.append(f"PostgreSQL not reachable at {admin}: restore test skipped")
        return
    result = run([bash, str(root / "scripts" / "restore-test.sh"), "--self-test"], cwd=root, timeout=900)
    print(result.stdout, end="")
    report.check(
        result.returncode == 0,
        "scripts/restore-test.sh --self-test: a pg_dump restores and reads back",
        f"restore test failed: {result.stderr.strip()}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/deploy_check.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fetch-nginx", type=Path, metavar="DIR", help="unpack Debian's nginx here if none is installed"
    )
    parser.add_argument("--no-restore-test", action="store_true", help="skip scripts/restore-test.sh")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    report = Report()
    check_units(report)
    systemd_verify(report)
    check_nginx(report, args.fetch_nginx.resolve() if args.fetch_nginx else None)
    check_env_example(report)
    if not args.no_restore_test:
        restore_test(report)
    for line in report.passed:
        print(f"ok    {line}")
    for line in report.notes:
        print(f"note  {line}")
    for line in report.problems:
        print(f"FAIL  {line}")
    print(
        f"deploy-check: {len(report.passed)} ok, {len(report.notes)} skipped, {len(report.problems)} failed"
    )
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
