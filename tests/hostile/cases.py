"""A catalogue of what a stranger sends a public sightline server, and how each answer is judged.

Each case sends one hostile or malformed request and is judged as a user would see the answer:

- ``clear``: a 4xx JSON error whose message says what is wrong, with no traceback, server path or SQL;
- ``item``: the request succeeded and the bad item failed alone, with a clear reason;
- ``unclear``: a 4xx without a useful message, or a 2xx where the input should have been refused;
- ``5xx``: the server failed;
- ``hang``: no answer within the case's deadline.

``python -m tests.hostile.cases`` prints the table in Markdown (docs/server.md keeps a copy); the test
beside this file asserts every case is ``clear`` or ``item``.
"""

from __future__ import annotations

import io
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from PIL import Image

TIMEOUT_S = 30.0
OWNER = {"X-Sightline-Client": "hostile-owner-0001"}  # the client that owns ctx.owned_session_id
STRANGER = {"X-Sightline-Client": "hostile-stranger-0001"}
# words that must never reach a client of a public server
LEAKS = re.compile(r"Traceback|File \"|/tmp/|/work/|/home/|site-packages|\bSELECT\b|\bINSERT\b|\bUPDATE\b|sqlalchemy|psycopg|\[SQL", re.I)


@dataclass
class Context:
    """What the cases need: a live server with a workspace, and IDs that exist on it."""

    url: str
    project_id: int
    dataset_id: int
    image_id: int
    session_id: str
    live_id: str
    owned_session_id: str = ""  # a session another client (token OWNER) started


@dataclass
class Case:
    area: str
    what: str
    send: Callable[[httpx.Client, Context], httpx.Response]
    expect: str = "clear"  # or "item": a 200 whose bad item fails alone


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def raw_json(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


def _post(path: str, **kwargs: Any) -> Callable[[httpx.Client, Context], httpx.Response]:
    def send(client: httpx.Client, ctx: Context) -> httpx.Response:
        return client.post(ctx.url + path.format(ctx=ctx), **kwargs)

    return send


def _get(path: str, **kwargs: Any) -> Callable[[httpx.Client, Context], httpx.Response]:
    def send(client: httpx.Client, ctx: Context) -> httpx.Response:
        return client.get(ctx.url + path.format(ctx=ctx), **kwargs)

    return send


def _send(method: str, path: str, **kwargs: Any) -> Callable[[httpx.Client, Context], httpx.Response]:
    def send(client: httpx.Client, ctx: Context) -> httpx.Response:
        return client.request(method, ctx.url + path.format(ctx=ctx), **kwargs)

    return send


def _get_stream(path: str, **kwargs: Any) -> Callable[[httpx.Client, Context], httpx.Response]:
    """A GET of an endpoint that streams: its status and error body, without waiting for a stream to end."""

    def send(client: httpx.Client, ctx: Context) -> httpx.Response:
        with client.stream("GET", ctx.url + path.format(ctx=ctx), **kwargs) as response:
            if response.status_code == 200:
                return httpx.Response(200, text="(a stream began)")
            response.read()
            return httpx.Response(response.status_code, content=response.content, headers=response.headers)

    return send


def _chunked(path: str, total: int) -> Callable[[httpx.Client, Context], httpx.Response]:
    """A body sent in chunks with no Content-Length, larger than the server's request limit."""

    def body() -> Iterator[bytes]:
        chunk = b"\0" * (1024 * 1024)
        for _ in range(total // len(chunk)):
            yield chunk

    def send(client: httpx.Client, ctx: Context) -> httpx.Response:
        headers = {"content-type": "multipart/form-data; boundary=x" if "items" in path or "predict" in path else "application/octet-stream"}
        try:
            return client.post(ctx.url + path.format(ctx=ctx), content=body(), headers=headers)
        except (httpx.RemoteProtocolError, httpx.WriteError):  # the server answered and closed before the body ended
            return httpx.Response(413, json={"error": {"message": "refused while sending (connection closed by the server)"}})

    return send


def cases() -> list[Case]:
    out: list[Case] = []
    add = out.append
    # --- POST /v1/predict, JSON -----------------------------------------------------------------
    for what, body in [
        ("images as a string", {"images": "abc"}),
        ("images as an object", {"images": {"data": "x"}}),
        ("images[0] as a number", {"images": [5]}),
        ("images[0].data as a list", {"images": [{"data": [1, 2]}]}),
        ("images[0].data as a number", {"images": [{"data": 7}]}),
        ("images[0].data not base64", {"images": [{"data": "@@@"}]}),
        ("urls as a string", {"urls": "http://example.invalid/a.png"}),
        ("urls[0] as a number", {"urls": [3]}),
        ("urls[0] not http", {"urls": ["file:///etc/passwd"]}),
        ("urls[0] to loopback", {"urls": ["http://127.0.0.1:1/a.png"]}),
        ("urls[0] to metadata address", {"urls": ["http://169.254.169.254/latest/meta-data"]}),
        ("urls[0] IPv4-mapped loopback", {"urls": ["http://[::ffff:127.0.0.1]/a.png"]}),
        ("urls[0] IPv4-compatible loopback", {"urls": ["http://[::7f00:1]/a.png"]}),
        ("urls[0] NAT64 metadata", {"urls": ["http://[64:ff9b::a9fe:a9fe]/a.png"]}),
        ("urls[0] 6to4 loopback", {"urls": ["http://[2002:7f00:1::1]/a.png"]}),
        ("model as a list", {"images": [{"data": ""}], "model": ["demo/shapes"]}),
        ("model unknown", {"urls": ["http://example.invalid/a.png"], "model": "nope"}),
        ("settings as a list", {"urls": ["http://example.invalid/a.png"], "settings": [1]}),
        ("settings.conf as a string", {"urls": ["http://example.invalid/a.png"], "settings": {"conf": "high"}}),
        ("settings.conf out of range", {"urls": ["http://example.invalid/a.png"], "settings": {"conf": 3}}),
        ("settings.imgsz negative", {"urls": ["http://example.invalid/a.png"], "settings": {"imgsz": -5}}),
        ("settings.imgsz huge", {"urls": ["http://example.invalid/a.png"], "settings": {"imgsz": 10**9}}),
        ("settings.img_size 4096 (over max_img_size)", {"urls": ["http://example.invalid/a.png"], "settings": {"img_size": 4096}}),
        ("settings.img_size pair with a side over max_img_size", {"urls": ["http://example.invalid/a.png"], "settings": {"img_size": [256, 4000]}}),
        ("settings.classes as a number", {"urls": ["http://example.invalid/a.png"], "settings": {"classes": 5}}),
        ("settings.classes unknown name", {"urls": ["http://example.invalid/a.png"], "settings": {"classes": ["dragon"]}}),
        ("settings with a typo", {"urls": ["http://example.invalid/a.png"], "settings": {"cnf": 0.3}}),
        ("unknown body key", {"urls": ["http://example.invalid/a.png"], "imags": []}),
        ("empty body", {}),
        ("300 items in one request", {"urls": ["http://example.invalid/a.png"] * 300}),
        ("meta as a string", {"images": [{"data": ""}], "meta": "x"}),
    ]:
        refused_url = what.startswith("urls[0]") and "number" not in what
        add(Case("predict", what, _post("/v1/predict", json=body), "item" if refused_url else "clear"))
    for what, text in [
        ("body not JSON", "{oops"),
        ("body a JSON list", "[1, 2]"),
        ("body a JSON number", "5"),
        ("settings.conf NaN", '{"urls": ["http://example.invalid/a.png"], "settings": {"conf": NaN}}'),
        ("settings.conf Infinity", '{"urls": ["http://example.invalid/a.png"], "settings": {"conf": Infinity}}'),
        ("number over float range", '{"urls": ["http://example.invalid/a.png"], "settings": {"conf": 1e999}}'),
        ("body not UTF-8", "\udcff"),
    ]:
        kwargs = raw_json(text) if text != "\udcff" else {"content": b'{"urls": ["\xff"]}', "headers": {"content-type": "application/json"}}
        add(Case("predict", what, _post("/v1/predict", **kwargs)))
    # --- POST /v1/predict, multipart ------------------------------------------------------------
    for what, data in [
        ("multipart meta as an object", {"meta": json.dumps({"a": 1})}),
        ("multipart meta as a number", {"meta": "5"}),
        ("multipart meta not JSON", {"meta": "{oops"}),
        ("multipart settings as a list", {"settings": "[1]"}),
        ("multipart model as a list", {"model": '["x"]'}),
    ]:
        add(Case("predict", what, _post("/v1/predict", files=[("files", ("a.png", png(), "image/png"))], data=data)))
    for what, payload in [
        ("an empty file", b""),
        ("a text file called .png", b"not an image at all"),
        ("a truncated PNG", png()[:60]),
        ("a 1x5000 image (the model cannot process it)", png((1, 5000))),
    ]:
        add(Case("predict", what, _post("/v1/predict", files=[("files", ("bad.png", payload, "image/png")), ("files", ("ok.png", png(), "image/png"))]), "item"))
    add(Case("predict", "an image over the pixel limit (header only)", _post("/v1/predict", files=[("files", ("big.png", _huge_png_header(), "image/png"))]), "item"))
    add(Case("predict", "a chunked body over the request limit", _chunked("/v1/predict", 24 * 1024 * 1024)))
    # --- sessions -------------------------------------------------------------------------------
    for what, body in [
        ("total as a string", {"total": "5"}),
        ("total negative", {"total": -1}),
        ("total huge", {"total": 10**30}),
        ("total as a bool", {"total": True}),
        ("urls as an object", {"urls": {"a": 1}}),
        ("callback as a string", {"total": 1, "callback": "http://example.invalid"}),
        ("callback.url to loopback", {"total": 1, "callback": {"url": "http://127.0.0.1:9/"}}),
        ("options as a list", {"total": 1, "options": [1]}),
        ("options.recursive as a string", {"total": 1, "options": {"recursive": "yes"}}),
        ("stride zero", {"total": 1, "stride": 0}),
        ("stride as a string", {"total": 1, "stride": "2"}),
        ("duration NaN", raw_json('{"total": 1, "duration": NaN}')),
        ("duration Infinity", raw_json('{"total": 1, "duration": Infinity}')),
        ("duration negative", {"total": 1, "duration": -3}),
        ("start_frame after end_frame", {"total": 1, "start_frame": 10, "end_frame": 2}),
        ("tracking as a string", {"total": 1, "tracking": "bytetrack!"}),
        ("upload mode unknown", {"total": 1, "upload": "overwrite"}),
        ("iou_merge_threshold over 1", {"total": 1, "upload": "iou_merge", "iou_merge_threshold": 7}),
        ("project_id as a string", {"project_id": "abc"}),
        ("project_id over int32", {"project_id": 2**31}),
        ("project_id over int64", {"project_id": 2**63}),
        ("project_id negative", {"project_id": -1}),
        ("image_ids with a string", {"image_ids": [1, "x"]}),
        ("image_ids over int64", {"image_ids": [2**64]}),
        ("two sources at once", {"project_id": 1, "dataset_id": 1}),
        ("video_id that does not exist", {"video_id": 99999}),
        ("model as an object", {"total": 1, "model": {"name": "x"}}),
        ("unknown key with a typo", {"totl": 1}),
    ]:
        kwargs = body if "content" in body else {"json": body}
        add(Case("sessions", what, _post("/v1/sessions", **kwargs)))
    for what, body in [
        ("items as a string", {"items": "x"}),
        ("items[0] as a number", {"items": [5]}),
        ("items[0] with neither url nor error", {"items": [{"meta": {}}]}),
        ("items[0].meta as a list", {"items": [{"url": "http://example.invalid/a.png", "meta": [1]}]}),
        ("urls[0] as an object", {"urls": [{"u": 1}]}),
    ]:
        add(Case("sessions", f"add items: {what}", _post("/v1/sessions/{ctx.session_id}/items", json=body)))
    add(Case("sessions", "add items: multipart meta as an object", _post("/v1/sessions/{ctx.session_id}/items", files=[("files", ("a.png", png(), "image/png"))], data={"meta": '{"a": 1}'})))
    add(Case("sessions", "add items: chunked body over the limit", _chunked("/v1/sessions/{ctx.session_id}/items", 24 * 1024 * 1024)))
    for what, params in [
        ("results after negative", {"after": -1}),
        ("results limit zero", {"limit": 0}),
        ("results after not a number", {"after": "x"}),
        ("results after over int64", {"after": 2**70}),
        ("results wait NaN", {"wait": "nan"}),
        ("results wait negative", {"wait": -5}),
    ]:
        add(Case("sessions", what, _get("/v1/sessions/{ctx.session_id}/results", params=params)))
    add(Case("sessions", "events after negative", _get_stream("/v1/sessions/{ctx.session_id}/events", params={"after": -3})))
    add(Case("sessions", "create with img_size 4096 (over max_img_size)", _post("/v1/sessions", json={"total": 1, "settings": {"img_size": 4096}})))
    for what, method, path in [
        ("status", "GET", ""), ("results", "GET", "/results"), ("add items", "POST", "/items"), ("close", "POST", "/close"),
        ("stop", "POST", "/stop"), ("resume", "POST", "/resume"), ("timeline", "GET", "/timeline"), ("delete", "DELETE", ""),
    ]:
        kwargs: dict[str, Any] = {"headers": STRANGER} | ({"json": {"urls": ["http://example.invalid/a.png"]}} if what == "add items" else {})
        add(Case("sessions", f"another client's session: {what}", _send(method, "/v1/sessions/{ctx.owned_session_id}" + path, **kwargs)))
    add(Case("sessions", "another client's session: events", _get_stream("/v1/sessions/{ctx.owned_session_id}/events", headers=STRANGER)))
    add(Case("sessions", "another client's session without a client token: status", _get("/v1/sessions/{ctx.owned_session_id}")))
    for what, token in [("too short", "ab"), ("with spaces", "a b c d e f g h"), ("300 characters", "a" * 300)]:
        add(Case("sessions", f"X-Sightline-Client {what}", _get("/v1/sessions", headers={"X-Sightline-Client": token})))
    for what, sid in [("unknown id", "nope"), ("id with ..", "..%2F..%2Fetc"), ("id 10,000 characters", "a" * 10000)]:
        add(Case("sessions", f"status of {what}", _get(f"/v1/sessions/{sid}")))
    # --- uploads --------------------------------------------------------------------------------
    good_pred = {"source": "a.png", "image_size": [48, 64], "boxes": [[1, 2, 10, 20]], "class_ids": [0], "classes": ["circle"], "scores": [0.9]}
    for what, body in [
        ("predictions missing", {"mode": "create"}),
        ("predictions as an object", {"mode": "create", "predictions": {"a": 1}}),
        ("predictions[0] as a string", {"mode": "append", "predictions": ["x"]}),
        ("boxes of the wrong shape", {"mode": "append", "predictions": [{**good_pred, "boxes": [[1, 2, 3]]}]}),
        ("boxes as a string", {"mode": "append", "predictions": [{**good_pred, "boxes": "x"}]}),
        ("image_size as a string", {"mode": "append", "predictions": [{**good_pred, "image_size": "big"}]}),
        ("masks not RLE", {"mode": "append", "predictions": [{**good_pred, "masks": [{"counts": 5}]}]}),
        ("class_ids and boxes of different lengths", {"mode": "append", "predictions": [{**good_pred, "class_ids": [0, 1]}]}),
        ("mode unknown", {"mode": "merge", "predictions": [good_pred]}),
        ("append without image_id", {"mode": "append", "predictions": [good_pred]}),
        ("image_id over int64", {"mode": "append", "predictions": [{**good_pred, "image_id": 2**63}]}),
        ("project name with ..", {"mode": "create", "project": "../../etc", "predictions": [good_pred]}),
        ("project name with NUL", {"mode": "create", "project": "a\u0000b", "predictions": [good_pred]}),
        ("project name 10,000 characters", {"mode": "create", "project": "p" * 10000, "predictions": [good_pred]}),
        ("project_id as a string", {"mode": "create", "project_id": "x", "predictions": [good_pred]}),
    ]:
        add(Case("uploads", what, _post("/v1/uploads", json=body)))
    # --- workspace reads ------------------------------------------------------------------------
    for route in (
        "/v1/projects/{id}", "/v1/projects/{id}/datasets", "/v1/projects/{id}/classes", "/v1/datasets/{id}/images",
        "/v1/images/{id}", "/v1/images/{id}/file", "/v1/images/{id}/thumbnail", "/v1/images/{id}/annotations", "/v1/videos/{id}",
    ):
        for label, value in (("over int32", 2**31), ("over int64", 2**63), ("negative", -1), ("not a number", "abc")):
            add(Case("workspace", f"GET {route} with an id {label}", _get(route.replace("{id}", str(value)))))
    add(Case("workspace", "thumbnail size huge", _get("/v1/images/{ctx.image_id}/thumbnail", params={"size": 10**9})))
    add(Case("workspace", "thumbnail size zero", _get("/v1/images/{ctx.image_id}/thumbnail", params={"size": 0})))
    # --- live streams ---------------------------------------------------------------------------
    for what, content in [("an empty frame", b""), ("a corrupt frame", b"\x89PNG garbage"), ("a frame over the file limit", b"\0" * (9 * 1024 * 1024))]:
        add(Case("live", what, _post("/v1/live/{ctx.live_id}/frames", content=content, headers={"content-type": "application/octet-stream"})))
    add(Case("live", "open with settings as a list", _post("/v1/live", json={"settings": [1]})))
    add(Case("live", "open with tracking_config as a string", _post("/v1/live", json={"tracking": True, "tracking_config": "x"})))
    add(Case("live", "frame to an unknown stream", _post("/v1/live/nope/frames", content=png())))
    # --- models ---------------------------------------------------------------------------------
    for what, body in [
        ("load a local path", {"model": "/etc/passwd"}),
        ("load demo/../ traversal (file exists)", {"model": "demo/../../../../etc/passwd"}),
        ("load demo/../ traversal (no such file)", {"model": "demo/../../../../nope.pt"}),
        ("load a name that is a list", {"model": ["demo/shapes"]}),
        ("load an unknown zoo name", {"model": "zoo/dragon"}),
        ("load on an unknown device", {"model": "demo/shapes", "device": "quantum"}),
        ("unload a model not loaded", None),
    ]:
        path = "/v1/models/unload" if body is None else "/v1/models/load"
        add(Case("models", what, _post(path, json=body or {"model": "nope"})))
    for what, payload in [
        ("upload a checkpoint that is text", b"not a checkpoint"),
        ("upload an empty checkpoint", b""),
        ("upload a pickle that runs code", _evil_pickle()),
        ("upload a checkpoint named like a zoo model", _named_checkpoint("demo/shapes")),
        ("upload a checkpoint whose name has a line break and NUL", _named_checkpoint("a\nb\x00c")),
        ("upload a checkpoint whose name is a path", _named_checkpoint("../../x")),
    ]:
        add(Case("models", what, _post("/v1/models/upload", files=[("file", ("m.pt", payload, "application/octet-stream"))])))
    return out


def _huge_png_header() -> bytes:
    """A small PNG file that declares 20,000 x 20,000 pixels: refused from its header, never decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


def _named_checkpoint(name: str) -> bytes:
    """The demo checkpoint's bytes with ``meta.name`` set to ``name``."""
    import tempfile
    from pathlib import Path

    from sightline.models.checkpoint import Checkpoint
    from sightline.paths import DEMO_CHECKPOINT

    checkpoint = Checkpoint.load(DEMO_CHECKPOINT)
    checkpoint.meta["name"] = name
    with tempfile.TemporaryDirectory() as folder:
        checkpoint.save(Path(folder) / "m.pt")
        return (Path(folder) / "m.pt").read_bytes()


def _evil_pickle() -> bytes:
    # a torch-like pickle whose load would call os.system; weights_only loading must refuse it
    return b"cos\nsystem\n(S'echo pwned'\ntR."


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or "")
    return ""


def judge(case: Case, response: httpx.Response | None) -> tuple[str, str]:
    """(verdict, what the user saw) for one answer; ``None`` is a request that never answered."""
    if response is None:
        return "hang", f"no answer within {TIMEOUT_S:g} s"
    status = response.status_code
    if status >= 500:
        return "5xx", f"{status} {_message(response) or response.text[:120]}"
    if case.expect == "item" and status == 200:
        preds = response.json().get("predictions", [])
        errors = [p.get("error") for p in preds if p.get("error")]
        good = [p for p in preds if not p.get("error")]
        if errors and (good or len(errors) == len(preds)) and all(len(e) > 10 and not LEAKS.search(e) for e in errors):
            return "item", f"200, the bad item failed alone: {errors[0][:110]}"
        return "unclear", f"200 but {len(errors)} failed and {len(good)} succeeded"
    message = _message(response)
    if 400 <= status < 500:
        if len(message) > 10 and not LEAKS.search(message):
            return "clear", f"{status} {message[:120]}"
        return "unclear", f"{status} {message[:120] or response.text[:120]}"
    return "unclear", f"{status}: accepted"


def run_all(ctx: Context, selected: list[Case] | None = None, verbose: bool = False) -> list[tuple[Case, str, str]]:
    rows = []
    with httpx.Client(timeout=TIMEOUT_S) as client:
        for case in selected or cases():
            response: httpx.Response | None = None
            for _attempt in range(2):
                try:
                    response = case.send(client, ctx)
                except httpx.TimeoutException:
                    response = None
                except httpx.TransportError:
                    # the connection died (a server that dropped a keep-alive connection after an earlier
                    # error without saying so): once more on a new connection, as a browser would
                    client.close()
                    client = httpx.Client(timeout=TIMEOUT_S)
                    response = httpx.Response(599, json={"error": {"message": "connection dropped"}})
                    continue
                break
            rows.append((case, *judge(case, response)))
            if verbose:
                print(f"{rows[-1][1]:8} {case.area}: {case.what}: {rows[-1][2][:100]}", file=sys.stderr, flush=True)
    return rows


def markdown(rows: list[tuple[Case, str, str]]) -> str:
    counts: dict[str, int] = {}
    for _, verdict, _ in rows:
        counts[verdict] = counts.get(verdict, 0) + 1
    lines = [f"{len(rows)} inputs: " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())), "",
             "| area | input | verdict | answer |", "|---|---|---|---|"]
    for case, verdict, seen in rows:
        seen = seen.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {case.area} | {case.what} | {verdict} | {seen} |")
    return "\n".join(lines)


def start_context(tmp: str) -> tuple[Any, Context]:
    """A live server (public settings: no private URLs, no local paths) with a small workspace."""
    import sightline
    from sightline.models.zoo import load_model
    from sightline.server import ServerConfig, create_app
    from tests.servers import LiveServer

    ws = sightline.Workspace(f"{tmp}/ws")
    project = ws.create_project("Hostile")
    dataset = ws.create_dataset(project.id, "train")
    image = ws.add_image(dataset.id, png(), name="a.png")
    # model admin allowed, as an operator may: the catalogue tries what loading does with hostile names and
    # files (a keyless server's default refusal, 403, is tests/server/test_owners.py's)
    config = ServerConfig(device="cpu", api_key=None, allow_private_urls=False, allow_local_paths=False,
                          max_request_bytes=16 * 1024 * 1024, max_file_bytes=8 * 1024 * 1024, allow_model_admin=True)
    live = LiveServer(create_app(config, model=load_model("demo/shapes", "cpu"), workspace=ws)).start()
    session_id = httpx.post(f"{live.url}/v1/sessions", json={"total": 5}).json()["id"]
    live_id = httpx.post(f"{live.url}/v1/live", json={}).json()["id"]
    owned = httpx.post(f"{live.url}/v1/sessions", json={"total": 5}, headers=OWNER).json()["id"]
    return live, Context(live.url, project.id, dataset.id, image.id, session_id, live_id, owned)


if __name__ == "__main__":
    import tempfile

    assert math.isfinite(TIMEOUT_S)
    with tempfile.TemporaryDirectory() as tmp:
        server, ctx = start_context(tmp)
        try:
            print(markdown(run_all(ctx, verbose=True)))
        finally:
            server.stop()
