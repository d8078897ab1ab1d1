"""A database error provoked in the database itself (no monkeypatching): a trigger that makes chosen
UPDATEs fail, as a deadlock or a serialization failure would. PostgreSQL raises SQLSTATE 40001
(serialization_failure); SQLite aborts the statement. The trigger is DDL inside the test's transaction,
so it is rolled back with it. Used by the refund poll and the payment order reliability tests."""

from __future__ import annotations

import re
import secrets

from sqlmodel import Session

SAFE_TABLE = re.compile(r"[a-z_]+")


def fail_updates(session: Session, table: str, when: str) -> str:
    """Every UPDATE of a ``table`` row for which the SQL condition ``when`` (over OLD and NEW) holds
    fails, until ``allow_updates``. ``when`` is written by the test (trusted literal SQL). Returns the
    trigger's name."""
    assert SAFE_TABLE.fullmatch(table)
    name = f"zhcg_test_fail_{secrets.token_hex(4)}"
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'provoked serialization failure' USING ERRCODE = 'serialization_failure'; "
            "END $$"
        )
        connection.exec_driver_sql(
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW WHEN ({when}) "
            f"EXECUTE FUNCTION {name}()"
        )
    else:
        connection.exec_driver_sql(
            f"CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW WHEN {when} "
            "BEGIN SELECT RAISE(ABORT, 'provoked failure'); END"
        )
    return name


def allow_updates(session: Session, table: str, name: str) -> None:
    """Drop a trigger made by ``fail_updates``."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"DROP TRIGGER {name} ON {table}")
    else:
        connection.exec_driver_sql(f"DROP TRIGGER {name}")
