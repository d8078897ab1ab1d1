"""The worker's parent imports every job's module before forking work horses."""

from __future__ import annotations

import subprocess
import sys

from core.jobs import JOBS
from workers.preload import job_modules


def test_every_job_module_is_listed_once() -> None:
    modules = job_modules()
    assert len(modules) == len(set(modules))
    assert {spec.path.rpartition(".")[0] for spec in JOBS.values()} == set(modules)


def test_preload_imports_them_all_in_a_fresh_process() -> None:
    # A fresh interpreter: this test process has imported most modules already.
    script = (
        "import sys; from workers.preload import preload; loaded = preload(); "
        "missing = [m for m in loaded if m not in sys.modules]; "
        "print(len(loaded), missing)"
    )
    command = [sys.executable, "-c", script]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    count, missing = out.stdout.strip().split(" ", 1)
    assert int(count) == len(job_modules())
    assert missing == "[]"
