"""The page's sign-in throttle: per visitor and user name, with the visitor's address forwarded only by
proxies the operator trusts. Driven over HTTP against the throttle around a sign-in route that answers
as Gradio's does (400 for wrong credentials, 200 for right ones)."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from sightline.server.forwarded import parse_networks, visitor_address
from sightline.ui.login_throttle import LoginThrottle

PROXY = "10.0.0.7"  # the address every visitor arrives from behind the proxy


async def _login(request: Request) -> JSONResponse:
    form = parse_qs((await request.body()).decode())
    ok = form.get("password") == ["right"]
    return JSONResponse({"success": ok}, status_code=200 if ok else 400)


def _client(trusted: list[str] | None = None, peer: str = PROXY) -> TestClient:
    app = Starlette(routes=[Route("/login", _login, methods=["POST"])])
    app.add_middleware(LoginThrottle, trusted_proxies=parse_networks(trusted or []))
    return TestClient(app, client=(peer, 40000))


def _try(http: TestClient, user: str, password: str, visitor: str | None = None) -> int:
    headers = {"X-Forwarded-For": f"{visitor}, 10.0.0.9"} if visitor else {}
    return http.post("/login", data={"username": user, "password": password}, headers=headers).status_code


def test_one_visitors_failures_do_not_lock_out_another_behind_the_same_trusted_proxy():
    http = _client(trusted=["10.0.0.0/24"])
    assert [_try(http, "ann", f"guess{i}", visitor="203.0.113.5") for i in range(7)] == [400] * 5 + [429] * 2
    assert _try(http, "ann", "right", visitor="198.51.100.8") == 200  # another visitor, same proxy, same name
    assert _try(http, "ann", "right", visitor="203.0.113.5") == 429  # the guesser waits, even with the right password


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored():
    http = _client(trusted=[], peer="203.0.113.5")
    # the guesser cannot escape its count by writing a new X-Forwarded-For each time
    assert [_try(http, "ann", f"g{i}", visitor=f"192.0.2.{i}") for i in range(6)] == [400] * 5 + [429]


def test_failures_count_per_user_name_so_a_visitor_cannot_lock_out_other_names():
    http = _client()  # no proxy: every request comes from the same address
    assert [_try(http, "mallory", f"g{i}") for i in range(6)] == [400] * 5 + [429]
    assert _try(http, "ann", "right") == 200
    assert _try(http, "MALLORY ", "right") == 429  # the same name, however it is written


def test_a_guesser_rotating_user_names_is_still_slowed_per_address():
    http = _client()
    statuses = [_try(http, f"name{i}", "wrong") for i in range(32)]
    assert statuses[:30] == [400] * 30 and set(statuses[30:]) == {429}, statuses


@pytest.mark.parametrize("forwarded, expected", [
    ("203.0.113.5", "203.0.113.5"),
    ("203.0.113.5, 10.0.0.9", "203.0.113.5"),  # the proxies' own hops are skipped
    ("1.2.3.4, 203.0.113.5, 10.0.0.9", "203.0.113.5"),  # what the visitor wrote before is not believed
    ("not-an-address, 10.0.0.9", "10.0.0.9"),  # malformed: stop at the last hop a trusted proxy wrote
    ("10.0.0.9", "10.0.0.9"),
])
def test_the_visitor_is_the_nearest_address_a_trusted_proxy_forwarded(forwarded, expected):
    scope = {"client": (PROXY, 1), "headers": [(b"x-forwarded-for", forwarded.encode())]}
    assert visitor_address(scope, parse_networks(["10.0.0.0/24"])) == expected
    assert visitor_address(scope, []) == PROXY


def test_a_trusted_proxy_that_is_not_an_address_stops_the_server_with_words():
    from sightline.server import ServerConfig, create_app

    with pytest.raises(ValueError, match="trusted proxy 'proxy.local' is not an IP address"):
        create_app(ServerConfig(trusted_proxies=("proxy.local",)), load_default=False)
