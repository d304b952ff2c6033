"""Every input in the catalogue gets a clear answer from a public server: a 4xx naming what is wrong, or
the bad item failed alone. Never a 5xx, a hang, or a message with a traceback, a server path or SQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.hostile.cases import Case, Context, cases, run_all, start_context

CASES = cases()


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Context]]:
    server, ctx = start_context(str(tmp_path_factory.mktemp("hostile")))
    yield server, ctx
    server.stop()


def test_the_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize("case", CASES, ids=[f"{c.area}: {c.what}" for c in CASES])
def test_hostile_input_gets_a_clear_answer(hostile_server: tuple[Any, Context], case: Case) -> None:
    _, ctx = hostile_server
    ((_, verdict, seen),) = run_all(ctx, [case])
    assert verdict in ("clear", "item"), seen
    assert httpx.get(f"{ctx.url}/health", timeout=10).status_code == 200  # still there for the next visitor
