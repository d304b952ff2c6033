"""Durable sessions: what writing every result to the database costs, and how fast results come back.

    .venv/bin/python benchmarks/durable_sessions.py [--images 48] [--batch-size 4] [--rounds 5] [--results 10000]

(a) Two ``sightline serve`` processes, one writing sessions to SQLite (``--state-dir``) and one in memory
only (``--no-persist-sessions``), fed the same JPEG folder by the SDK in interleaved rounds.
Target: persistence on / off >= 0.95.
(b) A session of ``--results`` stored results left ``running`` by a dead server: the time for a new
session store to open the database (mark it interrupted, count its results) and to read every result
back by cursor in pages of 1000, as ``GET /results`` does; and the bytes per result on disk.
(c) The writer alone: wall and CPU time per batch it writes.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import load_demo, make_images, parse_args, rate_row, row, settle, write_jpegs

import sightline
from sightline.client.deploy import _free_port, wait_until_ready

SRC = str(Path(sightline.__file__).resolve().parents[1])


def start_server(batch_size: int, extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = _free_port("127.0.0.1")
    log = Path(tempfile.mkstemp(prefix="sightline-bench-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "sightline", "serve", "--model", "demo/shapes", "--device", "cpu", "--port", str(port),
           "--max-batch-size", str(batch_size), "--log-level", "warning", *extra]
    with log.open("w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": SRC})
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url, process, log, 600, "the benchmark server")  # a loaded machine starts torch slowly
    return process, url


def timed_session(model, folder: Path, batch_size: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    session = model.predict_detached(input=folder, batch_size=batch_size)
    preds = session.results() if session.wait_done(600) else []
    elapsed = time.perf_counter() - start
    assert len(preds) == len(list(folder.iterdir())) and all(p.ok for p in preds)
    session.delete()
    return len(preds) / elapsed


def throughput(args) -> None:  # type: ignore[no-untyped-def]
    images = make_images(args.images)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        write_jpegs(images, folder)
        on_proc, on_url = start_server(args.batch_size, ["--state-dir", str(Path(tmp) / "state")])
        off_proc, off_url = start_server(args.batch_size, ["--no-persist-sessions"])
        try:
            on, off = sightline.connect(on_url), sightline.connect(off_url)
            for m in (on, off):  # warm-up
                m.predict(input=images[: args.batch_size * 2], batch_size=args.batch_size)
            rates_on, rates_off = [], []
            for _ in range(args.rounds):  # interleaved, so drift in machine load hits both alike
                settle()
                rates_off.append(timed_session(off, folder, args.batch_size))
                settle()
                rates_on.append(timed_session(on, folder, args.batch_size))
            on.close()
            off.close()
        finally:
            for p in (on_proc, off_proc):
                p.terminate()
                p.wait(60)
    print(f"demo/shapes, {args.images} images 640x480, batch {args.batch_size}, {args.rounds} interleaved rounds, sessions via the SDK")
    rate_row("server, sessions in memory only", rates_off, "img/s")
    rate_row("server, sessions written to SQLite", rates_on, "img/s", rates_off, "(target >= 0.95)")


def reopen(count: int) -> None:
    from sightline.engine.status import SessionState, SessionStatus
    from sightline.server.config import ServerConfig
    from sightline.server.manager import ModelManager
    from sightline.server.session_db import SessionDB
    from sightline.server.sessions import SessionStore
    from sightline.server.url_pool import UrlFetchPool

    model = load_demo()
    pred = model.predict(make_images(1)[0])[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sessions.db"
        db = SessionDB.open_file(path)
        db.insert("bench", "demo/shapes", "workspace", {}, count)
        for first in range(0, count, 100):
            batch = [copy.copy(pred) for _ in range(first, min(count, first + 100))]
            for k, p in enumerate(batch, start=first):
                p.index = k
            db.append("bench", first, batch)
        db.flush(600)
        db.set_state("bench", SessionStatus(SessionState.RUNNING, 0, count, 0, 0.0, 0.0, None))
        db.close()  # as if the server died mid-run: the row still reads running
        size = path.stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("sessions.db-*"))

        config = ServerConfig(device="cpu")
        pool = UrlFetchPool(config)
        start = time.perf_counter()
        store = SessionStore(config, ModelManager(1, 8, 3.0), Path(tmp) / "files", url_pool=pool, db=SessionDB.open_file(path))
        session = store.get("bench", None)  # the server itself: sees every session
        opened = time.perf_counter() - start
        assert session.status().state is SessionState.INTERRUPTED and session.status().done == count
        start = time.perf_counter()
        got = 0
        while got < count:
            got += len(session.result_dicts(got, 1000))
        read = time.perf_counter() - start
        store.close()
        pool.close()
    print(f"{count} stored results of one session (the demo model's prediction of a 640x480 image: RLE masks)")
    row("re-open after a restart (mark interrupted, count results)", opened * 1000, "ms")
    row(f"read all {count} back by cursor, pages of 1000", read * 1000, "ms")
    row("on disk per result (zlib'd JSON, SQLite)", size / count, "bytes")


def writer_cost(batches: int = 100, batch_size: int = 4) -> None:
    """(c) The writer alone: batches of demo predictions appended and flushed one by one (a commit each, the
    worst case: a running server commits several queued batches at once), wall and CPU time per batch."""
    from sightline.server.session_db import SessionDB

    model = load_demo()
    preds = model.predict(make_images(batch_size))
    with tempfile.TemporaryDirectory() as tmp:
        db = SessionDB.open_file(Path(tmp) / "sessions.db")
        db.insert("bench", "demo/shapes", "workspace", {}, batches * batch_size)
        wall, cpu = time.perf_counter(), time.process_time()
        for b in range(batches):
            db.append("bench", b * batch_size, [copy.copy(p) for p in preds])
            db.flush(600)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        db.close()
    print(f"the session writer, {batches} batches of {batch_size} demo predictions (RLE masks), a commit per batch")
    row("wall time per batch (encode, insert, commit)", wall / batches * 1000, "ms")
    row("CPU time per batch (holds the GIL mostly)", cpu / batches * 1000, "ms")


def main() -> None:
    count = 10000
    if "--results" in sys.argv:  # ours, not one of the shared options
        at = sys.argv.index("--results")
        count = int(sys.argv[at + 1])
        del sys.argv[at : at + 2]
    args = parse_args(__doc__, "images", 48)
    if args.rounds:
        throughput(args)
    reopen(count)
    writer_cost()


if __name__ == "__main__":
    main()
