"""The page behind the API key: with SIGHTLINE_API_KEY and no SIGHTLINE_LOGIN, the page asks for the key;
failed sign-ins are throttled. Driven over HTTP against the app as app.py builds it (no browser)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.servers import LiveServer


@pytest.fixture()
def start_page(tmp_path, monkeypatch) -> Iterator[Callable[..., LiveServer]]:  # type: ignore[no-untyped-def]
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        import app as app_module

        for name in ("SIGHTLINE_API_KEY", "SIGHTLINE_LOGIN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("SIGHTLINE_DEVICE", "cpu")
        monkeypatch.setenv("SIGHTLINE_WORKSPACE", str(tmp_path / f"ws{len(started)}"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        live = LiveServer(app_module.build(port=0)).start()
        started.append(live)
        return live

    yield start
    for s in started:
        s.stop()


def _login(url: str, password: str, user: str = "anyone") -> httpx.Response:
    return httpx.post(f"{url}/login", data={"username": user, "password": password}, timeout=30)


def test_an_api_key_without_a_login_makes_the_page_ask_for_the_key(start_page):
    url = start_page(SIGHTLINE_API_KEY="s3cret-key").url
    assert httpx.get(f"{url}/config", timeout=30).status_code == 401  # the page's endpoints need a sign-in
    assert _login(url, "wrong").status_code == 400
    r = _login(url, "s3cret-key")
    assert r.status_code == 200, r.text
    assert httpx.get(f"{url}/config", cookies=r.cookies, timeout=30).status_code == 200
    # the API itself still wants the key
    assert httpx.get(f"{url}/v1/projects", timeout=30).status_code == 401


def test_a_login_guards_the_page_and_no_settings_leave_it_open(start_page):
    url = start_page(SIGHTLINE_LOGIN="ann:pw", SIGHTLINE_API_KEY="k").url
    assert _login(url, "k", user="ann").status_code == 400  # with a login, the key is not a page password
    assert _login(url, "pw", user="ann").status_code == 200
    open_url = start_page().url
    assert httpx.get(f"{open_url}/config", timeout=30).status_code == 200


def test_failed_sign_ins_are_throttled(start_page):
    url = start_page(SIGHTLINE_API_KEY="s3cret-key").url
    statuses = [_login(url, f"guess{i}").status_code for i in range(8)]
    assert statuses[:5] == [400] * 5 and set(statuses[5:]) == {429}, statuses
    r = _login(url, "s3cret-key")  # even the right key waits until the window has passed
    assert r.status_code == 429
    assert "too many failed sign-ins" in r.json()["detail"] and "try again in" in r.json()["detail"]
