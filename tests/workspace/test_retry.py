"""The retry policy for transient database errors: what counts as transient, how many tries, how long."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from sightline.workspace import retry
from sightline.workspace.retry import is_transient, with_retries


def _locked_error(tmp_path) -> OperationalError:
    """A real "database is locked" from SQLite: another connection holds the write lock, no busy wait."""
    db = tmp_path / "x.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{db}", connect_args={"timeout": 0})
    try:
        with engine.begin() as c:
            c.execute(text("INSERT INTO t VALUES (1)"))
    except OperationalError as exc:
        return exc
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    raise AssertionError("the write did not wait for the lock")


def test_sqlite_busy_is_transient_and_a_constraint_is_not(tmp_path):
    assert is_transient(_locked_error(tmp_path))
    engine = create_engine("sqlite://")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE u (x INTEGER UNIQUE)"))
        c.execute(text("INSERT INTO u VALUES (1)"))
    with pytest.raises(IntegrityError) as caught, engine.begin() as c:
        c.execute(text("INSERT INTO u VALUES (1)"))
    assert not is_transient(caught.value)
    assert not is_transient(ValueError("not a database error"))


def test_retries_transient_errors_then_gives_up(tmp_path, monkeypatch):
    monkeypatch.setattr(retry.time, "sleep", lambda s: None)
    locked = _locked_error(tmp_path)
    calls = []

    def twice_locked():
        calls.append(1)
        if len(calls) <= 2:
            raise locked
        return "done"

    assert with_retries(twice_locked, "test") == "done" and len(calls) == 3
    calls.clear()

    def always_locked():
        calls.append(1)
        raise locked

    with pytest.raises(OperationalError):
        with_retries(always_locked, "test")
    assert len(calls) == retry.ATTEMPTS
    calls.clear()

    def broken():
        calls.append(1)
        raise ValueError("bad value")

    with pytest.raises(ValueError):
        with_retries(broken, "test")
    assert len(calls) == 1  # not transient: no second try


def test_total_time_is_bounded(tmp_path, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(retry.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(retry.time, "sleep", lambda s: now.__setitem__(0, now[0] + s))
    monkeypatch.setattr(retry.random, "uniform", lambda a, b: b)  # the longest pause every time
    locked = _locked_error(tmp_path)

    def always_locked():
        now[0] += 3.0  # each try takes 3 s
        raise locked

    with pytest.raises(OperationalError):
        with_retries(always_locked, "test", attempts=100, budget_s=10.0)
    assert now[0] <= 10.0 + 3.0
