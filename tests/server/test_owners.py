"""What one client can still do to another (issue 10): sessions belong to their caller, model admin is the
operator's on a public server, and no client can ask for a pass that makes everyone wait."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

import sightline
from sightline.models.demo.synthetic import make_sample
from sightline.paths import DEMO_CHECKPOINT
from tests.servers import LiveServer


def _images(n: int = 3) -> list[np.ndarray]:
    return [make_sample(11, i, max_shapes=2, size=(64, 80)).image for i in range(n)]


def _headers(token: str | None) -> dict[str, str]:
    return {"X-Sightline-Client": token} if token else {}


def _finished_session(model: sightline.RemoteModel) -> str:
    session = model.predict_detached(input=_images())
    session.wait_done(120)
    return session.id


# --- sessions belong to their caller ------------------------------------------------------------------------
def test_on_a_keyless_server_a_client_sees_only_its_own_sessions(start_server):
    server: LiveServer = start_server()
    with sightline.connect(server.url) as alice, sightline.connect(server.url) as mallory:
        sid = _finished_session(alice)
        assert alice.client_id != mallory.client_id
        http = httpx.Client(base_url=server.url, timeout=30)
        # listing: Alice's session for Alice only; a client with another token or none lists nothing of hers
        listed = http.get("/v1/sessions", headers=_headers(alice.client_id)).json()["sessions"]
        assert [s["id"] for s in listed] == [sid]
        assert http.get("/v1/sessions", headers=_headers(mallory.client_id)).json()["sessions"] == []
        assert http.get("/v1/sessions").json()["sessions"] == []
        # reading, streaming, stopping, deleting by id: 404, in the words of an id that never existed
        never = http.get("/v1/sessions/" + "0" * 32, headers=_headers(mallory.client_id))
        for token in (mallory.client_id, None):
            for method, path in [("GET", ""), ("GET", "/results"), ("GET", "/events"), ("GET", "/timeline"),
                                 ("POST", "/stop"), ("POST", "/close"), ("POST", "/resume"), ("DELETE", "")]:
                r = http.request(method, f"/v1/sessions/{sid}{path}", headers=_headers(token))
                assert r.status_code == 404, (method, path, r.status_code, r.text)
                assert r.json()["error"]["message"].replace(sid, "0" * 32) == never.json()["error"]["message"]
        with pytest.raises(sightline.NotFoundError):
            mallory.session(sid)
        # the owner still has all of it
        again = alice.session(sid)
        assert again.status().done == 3 and len(again.results()) == 3
        http.close()


def test_another_process_re_attaches_with_the_same_client_id(start_server):
    server = start_server()
    with sightline.connect(server.url) as first:
        sid = _finished_session(first)
        with sightline.connect(server.url, client_id=first.client_id) as second:
            assert len(second.session(sid).results()) == 3


def test_on_a_server_with_an_api_key_the_key_owns_the_sessions(start_server):
    server = start_server(api_key="team-key")
    with sightline.connect(server.url, "team-key") as ann, sightline.connect(server.url, "team-key") as bob:
        sid = _finished_session(ann)
        assert len(bob.session(sid).results()) == 3  # one key, one team
        listed = httpx.get(f"{server.url}/v1/sessions", headers={"Authorization": "Bearer team-key"}, timeout=30).json()
        assert sid in [s["id"] for s in listed["sessions"]]


def test_a_session_started_without_a_client_token_is_reached_by_its_id_only(start_server):
    server = start_server()
    http = httpx.Client(base_url=server.url, timeout=30)
    created = http.post("/v1/sessions", json={"urls": [], "total": 0, "close": True})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert http.get(f"/v1/sessions/{sid}").status_code == 200  # its id is the capability (vendor clients, curl)
    assert http.get("/v1/sessions").json()["sessions"] == []  # and no listing shows it to anyone
    assert http.get("/v1/sessions", headers=_headers("someone-else-123")).json()["sessions"] == []
    http.close()


def test_a_malformed_client_token_is_a_clear_422(start_server):
    server = start_server()
    r = httpx.get(f"{server.url}/v1/sessions", headers={"X-Sightline-Client": "x"}, timeout=30)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "X-Sightline-Client" and "8 to 128" in r.json()["error"]["message"]


def test_session_owners_survive_a_restart(start_server, tmp_path):
    from sightline.models.zoo import load_model
    from sightline.server import ServerConfig, create_app

    config = ServerConfig(device="cpu", api_key=None, allow_private_urls=True, state_dir=str(tmp_path / "state"))
    first = LiveServer(create_app(config, model=load_model("demo/shapes", "cpu"))).start()
    with sightline.connect(first.url) as alice:
        sid = _finished_session(alice)
        token = alice.client_id
    first.stop()
    second = LiveServer(create_app(config, model=load_model("demo/shapes", "cpu"))).start()
    try:
        assert httpx.get(f"{second.url}/v1/sessions/{sid}", headers=_headers("another-client"), timeout=30).status_code == 404
        with sightline.connect(second.url, client_id=token) as alice_again:
            assert alice_again.session(sid).status().done == 3
    finally:
        second.stop()


# --- loading, unloading and uploading models on a public server --------------------------------------------
def test_a_keyless_server_refuses_model_admin_in_words(start_server):
    server = start_server(allow_model_admin=False)  # the default of a server (tests/servers.py opens it)
    with sightline.connect(server.url) as model:
        for change in (lambda: model.load_model("demo/shapes"), lambda: model.unload_model("demo/shapes"),
                       lambda: model.unload_all_models(), lambda: model.upload_model(DEMO_CHECKPOINT)):
            with pytest.raises(sightline.PermissionDeniedError) as caught:
                change()
            assert caught.value.status == 403
            assert "no API key" in str(caught.value) and "SIGHTLINE_ALLOW_MODEL_ADMIN=1" in str(caught.value)
        assert [m.name for m in model.loaded_models()] == ["demo/shapes"]  # still served
        assert model.server_info()["limits"]["model_admin"] is False
    # the vendor layer's equivalents are refused too
    r = httpx.post(f"{server.url}/roboflow/model/clear", json={}, timeout=30)
    assert r.status_code == 403
    assert len(server.state.models.loaded()) == 1


@pytest.mark.parametrize("overrides", [{"allow_model_admin": True}, {"api_key": "k", "allow_model_admin": False}])
def test_model_admin_is_open_when_the_operator_allows_it_or_to_the_key_holder(start_server, overrides):
    server = start_server(**overrides)
    with sightline.connect(server.url, overrides.get("api_key")) as model:
        assert model.server_info()["limits"]["model_admin"] is True
        assert model.load_model("demo/shapes").name == "demo/shapes"


# --- a pass too heavy for a shared server --------------------------------------------------------------------
def test_img_size_over_the_servers_cap_is_a_422_naming_the_field(start_server):
    server = start_server(max_img_size=640)
    png = httpx.Client(base_url=server.url, timeout=60)
    for path, body in [("/v1/predict", {"urls": ["http://127.0.0.1:9/x.png"], "settings": {"img_size": 4096}}),
                       ("/v1/predict", {"urls": ["http://127.0.0.1:9/x.png"], "settings": {"img_size": [320, 1024]}}),
                       ("/v1/sessions", {"total": 1, "settings": {"img_size": 4096}}),
                       ("/v1/live", {"settings": {"img_size": 4096}})]:
        r = png.post(path, json=body)
        assert r.status_code == 422, (path, r.status_code, r.text)
        error = r.json()["error"]
        assert error["field"] == "img_size" and "limit of 640" in error["message"], (path, error)
    png.close()
    with sightline.connect(server.url) as model:
        with pytest.raises(sightline.InvalidSettingError, match="max_img_size"):
            model.predict(_images(1), img_size=1024)
        assert model.predict(_images(1), img_size=640)[0].error is None
        assert model.server_info()["limits"]["max_img_size"] == 640
