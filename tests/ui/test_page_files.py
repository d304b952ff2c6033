"""The page reads only files its visitors uploaded: a file path sent to its API that lies outside Gradio's upload
cache (a server file, the workspace database, the demo checkpoint) is refused, and no copy of it is made or served.
Driven over HTTP against the app as app.py builds it (no browser), with Gradio's cache in a folder of the test's own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import sightline
from sightline.client.deploy import _free_port
from tests.servers import LiveServer

FILE_APIS = ("on_frame", "lambda_6", "on_start")  # webcam frame, checkpoint deploy, run start (images and video)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path, Path]]:
    """The app on a free port (its own SDK handle must reach it), its workspace folder and Gradio's cache folder."""
    import app as app_module

    root = tmp_path_factory.mktemp("page-files")
    cache, workspace = root / "gradio-cache", root / "ws"
    with pytest.MonkeyPatch.context() as mp:
        for name in ("SIGHTLINE_API_KEY", "SIGHTLINE_LOGIN"):
            mp.delenv(name, raising=False)
        mp.setenv("SIGHTLINE_DEVICE", "cpu")
        mp.setenv("SIGHTLINE_WORKSPACE", str(workspace))
        mp.setenv("GRADIO_TEMP_DIR", str(cache))
        port = _free_port("127.0.0.1")
        live = LiveServer(app_module.build(port=port), port=port).start()
        yield live, workspace, cache
        live.stop()


def _file(path: str | Path) -> dict[str, Any]:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def _payload(url: str, api_name: str, path: str | Path) -> list[Any]:
    """The data a visitor's script would send to ``api_name``: the inputs' defaults, with ``path`` in every file input."""
    config = httpx.get(f"{url}/config", timeout=30).json()
    components = {c["id"]: c for c in config["components"]}
    dep = next(d for d in config["dependencies"] if d["api_name"] == api_name)
    data = []
    for i in dep["inputs"]:
        c = components[i]
        if c["type"] == "state":
            continue
        if c["type"] in ("file", "image"):
            data.append([_file(path)] if c["props"].get("file_count") == "multiple" else _file(path))
        else:
            data.append(c["props"].get("value"))
    return data


def call(url: str, api_name: str, data: list[Any]) -> tuple[str, Any]:
    """POST /gradio_api/call/<api_name>, then read its event stream; the last event's name and data."""
    r = httpx.post(f"{url}/gradio_api/call/{api_name}", json={"data": data}, timeout=30)
    assert r.status_code == 200, r.text
    event, payload = "", None
    with httpx.stream("GET", f"{url}/gradio_api/call/{api_name}/{r.json()['event_id']}", timeout=60) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                payload = json.loads(line.split(":", 1)[1].strip() or "null")
                if event in ("complete", "error"):
                    break
    return event, payload


def _copies(cache: Path, original: Path) -> list[Path]:
    content = original.read_bytes()
    return [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size == len(content) and p.read_bytes() == content]


def _targets(workspace: Path) -> dict[str, Path]:
    return {
        "a server file": Path("/etc/passwd"),
        "the workspace database": workspace / "sightline.db",
        "the demo checkpoint": Path(sightline.__file__).parent / "assets" / "models" / "shapes.pt",
    }


@pytest.mark.parametrize("api_name", FILE_APIS)
@pytest.mark.parametrize("target", ["a server file", "the workspace database", "the demo checkpoint"])
def test_a_server_path_sent_as_a_file_is_refused_and_never_copied(page, api_name, target):
    live, workspace, cache = page
    path = _targets(workspace)[target]
    assert path.is_file(), path
    event, payload = call(live.url, api_name, _payload(live.url, api_name, path))
    text = json.dumps(payload)
    assert event == "error", f"{target} via {api_name} was accepted: {text[:300]}"
    assert "not uploaded" in text, text  # the reason, in words
    assert str(cache) not in text  # no copy is named
    assert _copies(cache, path) == [], f"{target} was copied into Gradio's cache via {api_name}"
    # nor is it served from where Gradio would have put it
    from gradio.processing_utils import hash_file

    would_be = cache / hash_file(path) / path.name
    assert httpx.get(f"{live.url}/gradio_api/file={would_be}", timeout=30).status_code != 200


def test_an_uploaded_checkpoint_still_deploys(page):
    """The page's own way: the file goes to /gradio_api/upload first and comes back as a path in Gradio's cache."""
    live, workspace, cache = page
    checkpoint = _targets(workspace)["the demo checkpoint"]
    with checkpoint.open("rb") as f:
        r = httpx.post(f"{live.url}/gradio_api/upload", files={"files": ("mine.pt", f)}, timeout=60)
    assert r.status_code == 200, r.text
    uploaded = r.json()[0]
    assert Path(uploaded).resolve().is_relative_to(cache.resolve())
    event, payload = call(live.url, "lambda_6", _payload(live.url, "lambda_6", uploaded))
    assert event == "complete", payload
    assert "Deployed" in json.dumps(payload), payload
