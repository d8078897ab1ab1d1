"""Real processes for the failure tests: a free port, the public API in a uvicorn subprocess, and a
private PostgreSQL cluster that a test may stop, crash and restart without touching the machine's
server (other test runs use it).

Every wait here is bounded: a process that does not start, stop or answer in time fails the test with
the tail of its log instead of hanging the run.
"""

from __future__ import annotations

import errno
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Self, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 60.0

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns something other than None or False; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


# --- the API ---------------------------------------------------------------------------------------


class ApiServer:
    """``api.main:create_app`` served by uvicorn in a process of its own, configured through the
    environment as a deployment is: jobs inline (no Redis), no periodic-job thread."""

    def __init__(
        self, *, db_url: str, photo_dir: Path, log_path: Path, extra_env: Mapping[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "ZHCG_DB__URL": db_url,
            "ZHCG_STORAGE__LOCAL_DIR": str(photo_dir),
            "ZHCG_APP__BASE_URL": self.base,
            "ZHCG_REDIS__EMBEDDED_CRON": "false",
            **(extra_env or {}),
        }
        self.env.pop("ZHCG_REDIS__URL", None)
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Self:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory"),
                *("--host", "127.0.0.1", "--port", str(self.port)),
                *("--log-level", "warning", "--no-access-log"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of the test run does not reach it; teardown stops it
        )
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Until ``/readyz`` answers 200 (database reachable and migrated)."""

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited with {self.process.returncode}:\n{self.log()}")
            try:
                return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_until(ready, timeout=timeout, what="the API to be ready", interval=0.2)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log()}") from exc

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no pending commit, no flush of anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        if self._log is not None:
            self._log.flush()
        return tail(self.log_path)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


# --- a private PostgreSQL cluster ------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """The server binaries (``ZHCG_TEST_PG_BIN``, else the newest Debian ``/usr/lib/postgresql/*/bin``)."""
    if configured := os.environ.get("ZHCG_TEST_PG_BIN"):
        return Path(configured)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A throw-away cluster in ``root`` on a free port (TCP on 127.0.0.1, trust authentication, its
    socket in ``root``). initdb refuses to run as root: as root, the folder is given to the
    ``postgres`` account and the binaries run under it."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.data = root / "data"
        self.port = free_port()
        self._as: list[str] = []

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as, str(self.bin_dir / program), *args]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False, cwd="/"
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def init(self) -> Self:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port} -k {self.root}",
                "-c listen_addresses=127.0.0.1",
                # Durability of this cluster is not under test (a clean stop checkpoints anyway); spare
                # the shared machine's disk.
                "-c fsync=off -c full_page_writes=off -c max_connections=40 -c shared_buffers=16MB",
            ]
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session (clients see their connection closed); ``immediate`` is a crash:
        no checkpoint, recovery on the next start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` (psycopg 3, as the application uses)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_url(), autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def log(self) -> str:
        return tail(self.root / "server.log")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres(root: Path) -> Iterator[PrivatePostgres]:
    """A running private cluster, destroyed (stopped, folder removed) afterwards."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        raise RuntimeError("no PostgreSQL server binaries (set ZHCG_TEST_PG_BIN to the folder of initdb)")
    cluster = PrivatePostgres(root, bin_dir)
    try:
        cluster.init().start()
        yield cluster
    finally:
        cluster.destroy()


# --- a small disk ----------------------------------------------------------------------------------


class MountRefused(Exception):
    """Mounting is not permitted here (not root, or a container without the capability)."""


@contextmanager
def small_tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path`` (created), unmounted and removed afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as exc:
        raise MountRefused("no mount command") from exc
    if done.returncode != 0:
        raise MountRefused(done.stderr.strip() or f"mount exited with {done.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)
        with suppress(OSError):
            path.rmdir()


def fill(folder: Path, limit: int = 16 * 1024 * 1024) -> Path:
    """Write a file in ``folder`` until the disk refuses more (ENOSPC); its path, to free space later.
    Refuses to write more than ``limit`` bytes: a folder that is not the small disk is never filled."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 4096
    written = 0
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while written <= limit:
            try:
                count = os.write(fd, chunk)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    return filler
                raise
            written += count
    finally:
        os.close(fd)
    filler.unlink()
    raise RuntimeError(f"{folder} took {limit} bytes without filling up: not the small disk")
