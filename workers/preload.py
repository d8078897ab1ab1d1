"""Load what every job needs once, in the worker's parent process.

An RQ worker forks a work horse for each job. Whatever the parent has not imported, each horse imports
again and throws away when it exits: on this machine that was about 0.9 s of imports and 0.5 s of
SQLAlchemy mapper set-up per job, so two workers kept up with only 1.5–3 jobs a second
(``bench/load.py``). Imported once in the parent, the horses inherit it (copy-on-write) and start at
once. Nothing here opens a connection: engines are built per process on first use (``core.db``).
"""

from __future__ import annotations

import importlib

from sqlalchemy.orm import configure_mappers

from core.jobs import JOBS


def job_modules() -> list[str]:
    """The module of every registered job, each once."""
    return sorted({spec.path.rpartition(".")[0] for spec in JOBS.values()})


def preload() -> list[str]:
    """Import every job's module and configure the ORM mappers; returns the modules imported."""
    modules = job_modules()
    for name in modules:
        importlib.import_module(name)
    configure_mappers()
    return modules
