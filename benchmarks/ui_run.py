"""The web app's run path: a run started from the page vs. the same run through the SDK, plus latencies.

    .venv/bin/python benchmarks/ui_run.py [--images 96] [--batch-size 4] [--rounds 3] [--skip-long-video]

The app is started as `make run` starts it; Chromium (Debian's) drives the page with Playwright. Both
sides predict the same JPEG files on the same server with the same batch size; their run time is the
server's own measure of the session (start to last result), so the browser's polling interval does not
count against the page. The page side also draws a thumbnail of every result for the gallery while the
run goes on, on the same two cores: that is the cost this benchmark shows.
Targets: page >= 90% of the SDK's throughput; first picture in the gallery within one timer tick (1 s)
+ one batch; Stop shown as stopped within one tick + one batch. Also measured: the large view after a
click on a thumbnail (drawn and shown), and the first visit of a gallery page near the end of a
3,000-frame 720p video (frames 2,940-2,999: target < 2 s).

The page's runs belong to its browser (``X-Sightline-Client: page-<id>``, the id the page keeps in
localStorage): the server lists only the caller's own sessions, so the script reads them as that client.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import alternating, make_images, parse_args, rate_row, row, settle, write_jpegs
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sightline.client.deploy import start_app  # noqa: E402
from sightline.client.remote import RemoteModel  # noqa: E402
from sightline.client.transport import CLIENT_HEADER  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run", "--disable-sync"]
DONE = "Number(document.querySelector('#progress .sl-progress')?.dataset.done || 0)"


def page_client(page) -> str:  # type: ignore[no-untyped-def]
    """The client token the page's runs are owned by: ``page-`` and the browser's id from its localStorage
    (``ui.context.AppContext.own_connection``); the page's script makes the id when it loads."""
    handle = page.wait_for_function("localStorage.getItem('sightline-browser')", timeout=120_000, polling=20)
    return f"page-{handle.json_value()}"


def sessions(url: str, client: str) -> dict[str, dict]:
    """The sessions of ``client``: the server lists only the caller's own (an anonymous call sees none)."""
    reply = httpx.get(f"{url}/v1/sessions", headers={CLIENT_HEADER: client}, timeout=30)
    reply.raise_for_status()
    return {s["id"]: s for s in reply.json()["sessions"]}


def fresh_page(page) -> None:  # type: ignore[no-untyped-def]
    """Reload as a new tab of a new browser: the tab's id (sessionStorage) would find the previous round's
    run again, already completed, and the browser's id (localStorage) would list it."""
    page.evaluate("localStorage.clear(); sessionStorage.clear()")
    page.reload()


def page_run(page, files: list[str], batch_size: int, url: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(images per second measured by the server, seconds from Run to the first gallery picture)."""
    fresh_page(page)
    client = page_client(page)
    before = sessions(url, client)
    page.locator("#input-files input[type=file]").set_input_files(files)
    page.locator("#input-files").get_by_text(Path(files[-1]).stem, exact=True).first.wait_for(state="attached", timeout=120_000)
    box = page.locator("#batch-size input[type=number]")
    box.fill(str(batch_size))
    box.press("Enter")
    settle()
    start = time.perf_counter()
    page.locator("#run").click()
    page.wait_for_function("document.querySelectorAll('#gallery button.thumbnail-item').length > 0", timeout=120_000, polling=20)
    first = time.perf_counter() - start
    page.locator("#progress [data-state=completed]").wait_for(timeout=600_000)
    (s,) = [s for sid, s in sessions(url, client).items() if sid not in before]
    assert s["done"] == len(files) and not s["failed"], s
    return s["done"] / s["elapsed_s"], first


def sdk_run(client: RemoteModel, files: list[str], batch_size: int) -> float:
    settle()
    session = client.predict_detached(input=files, batch_size=batch_size)
    status = session.wait_done(timeout=600)
    assert status.done == len(files) and not status.failed
    return status.done / status.elapsed_s


def page_stop(page, files: list[str], url: str) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """(seconds from Stop to the page showing "stopped", items the server finished after the click)."""
    fresh_page(page)
    client = page_client(page)
    before = sessions(url, client)
    page.locator("#input-files input[type=file]").set_input_files(files)
    page.locator("#input-files").get_by_text(Path(files[-1]).stem, exact=True).first.wait_for(state="attached", timeout=120_000)
    page.locator("#run").click()
    page.wait_for_function(f"{DONE} >= 8", timeout=120_000, polling=20)
    (sid,) = [sid for sid in sessions(url, client) if sid not in before]
    at_click = sessions(url, client)[sid]["done"]  # the server's count: the page shows it up to one tick later
    start = time.perf_counter()
    page.locator("#stop").click()
    page.locator("#progress [data-state=stopped]").wait_for(timeout=60_000)
    return time.perf_counter() - start, sessions(url, client)[sid]["done"] - at_click


def large_view_clicks(page, clicks: int = 6) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds from a click on a thumbnail to the large view painting that result (a new picture)."""
    times = []
    for k in range(1, clicks + 1):
        before = page.evaluate("document.querySelector('#large-view img')?.src || ''")
        settle(0.3)
        start = time.perf_counter()
        page.locator("#gallery button.thumbnail-item").nth(k).click()
        page.wait_for_function(
            "before => { const i = document.querySelector('#large-view img'); return !!i && i.src !== before && i.complete && i.naturalWidth > 0; }",
            arg=before, timeout=60_000, polling=10)
        times.append(time.perf_counter() - start)
    return times


def write_long_video(path: Path, frames: int = 3000, size: tuple[int, int] = (720, 1280)) -> None:
    """A 30 fps H.264 clip with a moving square the demo model finds."""
    import av
    import numpy as np

    h, w = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for k in range(frames):
            image = np.full((h, w, 3), 30, dtype=np.uint8)
            x = 40 + (k * 7) % (w - 300)
            image[h // 3:h // 3 + 200, x:x + 180] = (220, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


TILES = "#gallery button.thumbnail-item img"
# A gallery page is shown when its captions are the new page's, its 60 pictures are new ones, and every
# picture in view is painted. Gallery pictures load lazily: those below the gallery's scroll fold load
# when scrolled to (the server has drawn them all by then), so waiting for all 60 would never end.
PAGE_SHOWN = f"""({{first, last, before}}) => {{
  const gallery = document.querySelector('#gallery');
  if (!gallery || !gallery.innerText.includes(first) || !gallery.innerText.includes(last)) return false;
  const tiles = [...document.querySelectorAll('{TILES}')];
  if (tiles.length !== 60 || tiles.some(i => before.includes(i.src))) return false;
  const box = gallery.getBoundingClientRect();
  const inView = tiles.filter(i => {{ const r = i.getBoundingClientRect();
    return r.bottom > box.top && r.top < Math.min(box.bottom, innerHeight) && r.width > 0; }});
  return inView.length > 0 && inView.every(i => i.complete && i.naturalWidth > 0);
}}"""


SHOWN = f"""() => {{
  const gallery = document.querySelector('#gallery'), tiles = [...document.querySelectorAll('{TILES}')];
  return {{captions: gallery ? gallery.innerText.split('\\n').slice(1, 3) : null, tiles: tiles.length,
           painted: tiles.filter(i => i.complete && i.naturalWidth > 0).length,
           progress: document.querySelector('#progress')?.innerText, message: document.querySelector('#run-message')?.innerText}};
}}"""


def long_video_page(page, video: Path, frames: int) -> float:  # type: ignore[no-untyped-def]
    """Run the last 120 frames of a long video from the page, then time the first visit of the gallery's
    second page (frames ``frames - 60`` to the end): seconds from the click to the page shown (``PAGE_SHOWN``)."""
    page.evaluate("sessionStorage.clear()")  # a fresh tab, not the previous run found again
    page.reload()
    page.get_by_role("tab", name="Video").click()
    page.locator("#input-video input[type=file]").set_input_files(str(video))
    page.locator("#input-video").get_by_text(video.stem).first.wait_for(state="attached", timeout=120_000)
    page.locator("#video-settings").get_by_text("Video").first.click()
    box = page.locator("#start-frame input[type=number]")
    box.fill(str(frames - 120))
    box.press("Enter")
    page.locator("#run").click()
    page.locator("#progress [data-state=completed]").wait_for(timeout=900_000)
    page.wait_for_function("document.querySelectorAll('#gallery button.thumbnail-item').length == 60", timeout=120_000)
    settle()
    before = page.evaluate(f"[...document.querySelectorAll('{TILES}')].map(i => i.src)")
    start = time.perf_counter()
    page.locator("#next-page").click()
    page.wait_for_function(PAGE_SHOWN, arg={"first": f"frame {frames - 60}:", "last": f"frame {frames - 1}:", "before": before},
                           timeout=600_000, polling=20)
    return time.perf_counter() - start


def main() -> None:
    args = parse_args(__doc__, count=96, rounds=3, flags={"skip-long-video": "leave out the 3,000-frame video's gallery page (minutes)"})
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_jpegs(make_images(args.images), Path(tmp))
        files = sorted(str(f) for f in folder.glob("*.jpg"))
        app, url = start_app(env={"SIGHTLINE_DEVICE": "cpu", "SIGHTLINE_WORKSPACE": str(Path(tmp) / "ws")}, startup_timeout=600)
        client = RemoteModel(url)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url)
                sdk_run(client, files[:8], args.batch_size)  # warm-up
                firsts: list[float] = []

                def page_side() -> float:
                    rate, first = page_run(page, files, args.batch_size, url)
                    firsts.append(first)
                    return rate

                # interleaved in alternating order, so drift of the machine hits both sides alike
                measured = alternating(args.rounds, {"sdk": lambda: sdk_run(client, files, args.batch_size), "page": page_side},
                                       between=lambda: None)  # each side settles after its own setup
                sdk_rates, page_rates = measured["sdk"], measured["page"]
                clicks = large_view_clicks(page)
                stop_s, after = page_stop(page, files, url)
                print(f"{args.images} JPEGs 640x480, batch size {args.batch_size}, {args.rounds} interleaved rounds")
                rate_row("SDK run (predict_detached)", sdk_rates, "img/s")
                rate_row("page run (Run button, gallery filling)", page_rates, "img/s", sdk_rates, "target >= 0.90")
                row("first gallery picture after Run (best)", min(firsts) * 1000, "ms",
                    f"median {sorted(firsts)[len(firsts) // 2] * 1000:.0f} ms")
                row("Stop click to 'stopped' on the page", stop_s * 1000, "ms", f"{after} item(s) finished after the click")
                row("large view after a click (best)", min(clicks) * 1000, "ms",
                    f"median {sorted(clicks)[len(clicks) // 2] * 1000:.0f} ms of {len(clicks)}")
                sys.stdout.flush()  # the figures so far stand even if the long video below times out
                if args.skip_long_video:
                    browser.close()
                    return
                long_clip = Path(tmp) / "long_clip.mp4"
                write_long_video(long_clip)
                label = "last gallery page, 3,000-frame 720p video"
                try:
                    row(label, long_video_page(page, long_clip, 3000) * 1000, "ms", "first visit, 60 frames (those in view painted); target < 2000 ms")
                except PlaywrightTimeout:
                    print(f"{label:<44}  not shown within the wait (600 s); target < 2000 ms")
                    print(f"  what the page showed: {page.evaluate(SHOWN)}")  # which condition of PAGE_SHOWN failed
                browser.close()
        finally:
            client.close()
            app.terminate()
            app.wait(timeout=30)

if __name__ == "__main__":
    main()
