"""A run from the page: the gallery fills while progress moves, Stop keeps what finished, a refresh finds
the run again, the review slider re-filters without a new run, and rejected objects are not counted."""

from __future__ import annotations

import time

import httpx

from tests.e2e.pages import (
    LONG,
    OBJECT_ROWS,
    add_images,
    copies,
    object_rows,
    progress,
    run,
    set_number,
    text_of,
    thumbnails,
    wait_state,
    wait_text,
)


def sessions(app_url: str) -> int:
    """Every session the server holds, whoever owns it (``GET /v1/sessions`` lists only the caller's own)."""
    text = httpx.get(f"{app_url}/metrics", timeout=10).text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("sightline_sessions{")))


def test_gallery_fills_while_progress_moves_then_review_refilters(page, app_url, tmp_path):
    add_images(page, copies(tmp_path, 90))  # long enough to be seen in steps on a fast machine
    set_number(page, "batch-size", 1)
    run(page)
    seen: list[tuple[int, int]] = []  # (done, thumbnails) while running
    deadline = time.monotonic() + LONG / 1000
    while time.monotonic() < deadline:
        done, total, state = progress(page)
        if state in ("running", "pending") and done:
            seen.append((done, thumbnails(page)))
        if state == "completed":
            break
        time.sleep(0.3)
    assert progress(page)[:2] == (90, 90)
    mid = [(d, t) for d, t in seen if 0 < d < 90]
    assert len({d for d, _ in mid}) >= 2, f"progress never moved in steps: {seen}"
    assert any(t > 0 for _, t in mid), f"the gallery stayed empty during the run: {seen}"
    page.wait_for_function("document.querySelectorAll('#gallery button.thumbnail-item').length == 60", timeout=LONG)
    assert "Page 1 of 2 · results 1–60 of 90" in text_of(page, "page-info")  # 60 per page
    page.locator("#next-page").click()
    page.wait_for_function("document.querySelectorAll('#gallery button.thumbnail-item').length == 30", timeout=LONG)
    page.locator("#prev-page").click()
    page.wait_for_function("document.querySelectorAll('#gallery button.thumbnail-item').length == 60", timeout=LONG)

    runs_before = sessions(page.url.rstrip("/"))
    assert runs_before >= 1, "the run just made is counted (else the check below could not fail)"
    page.locator("#gallery button.thumbnail-item").first.click()
    wait_text(page, "keep", r"object 0: ")
    page.wait_for_function(f"{OBJECT_ROWS} >= 2", timeout=LONG)
    before = object_rows(page)
    assert before >= 2
    total_text = wait_text(page, "review-counts", r"\d+\*?\*? of \d+ objects")
    set_number(page, "review-conf", 0.999)
    page.wait_for_function(f"{OBJECT_ROWS} < {before}", timeout=LONG)
    assert text_of(page, "review-counts") != total_text
    assert sessions(page.url.rstrip("/")) == runs_before, "moving the review slider must not run the model again"

    set_number(page, "review-conf", 0.5)
    page.wait_for_function(f"{OBJECT_ROWS} == {before}", timeout=LONG)
    page.locator("#keep label").first.click()  # reject the first object
    wait_text(page, "review-counts", r"1 rejected by hand")
    assert "rejected" in text_of(page, "objects")


def test_stop_keeps_finished_results_and_refresh_finds_the_run(page, app_url, tmp_path):
    add_images(page, copies(tmp_path, 150))
    set_number(page, "batch-size", 1)
    set_number(page, "img-size", 1536)  # ~9x slower a picture (0.4 s here): the run outlasts a reload on any machine
    run(page)
    page.wait_for_function("Number(document.querySelector('#progress .sl-progress')?.dataset.done || 0) >= 3", timeout=LONG)

    page.reload()  # the run goes on, and the page finds it again
    page.wait_for_function("Number(document.querySelector('#progress .sl-progress')?.dataset.done || 0) >= 6", timeout=LONG)
    assert progress(page)[1] == 150

    page.locator("#stop").click()
    try:
        wait_state(page, "stopped", timeout=60_000)
    except Exception:  # say what the page shows instead
        raise AssertionError(f"the page never showed 'stopped': progress {progress(page)}, message {text_of(page, 'run-message')!r}") from None
    done, total, _ = progress(page)
    assert 0 < done < total == 150
    time.sleep(2.5)
    assert progress(page)[0] == done, "progress moved after the run stopped"
    page.wait_for_function(f"document.querySelectorAll('#gallery button.thumbnail-item').length == {min(done, 60)}", timeout=LONG)
    assert f"of {done}" in text_of(page, "page-info")
    assert "Stopped" in text_of(page, "run-message")


# the slider's events, as the page's config names them: the dependencies with a trigger on #review-conf
SLIDER_EVENTS = """(() => {
  const cfg = window.gradio_config;
  const slider = cfg.components.find(c => c.props && c.props.elem_id === 'review-conf').id;
  return cfg.dependencies.filter(d => (d.targets || []).some(t => t[0] === slider)).map(d => d.id);
})()"""


def test_a_run_draws_its_large_view_once(page):
    """Run sets the review slider to the run's confidence and draws the first result itself; the
    slider's own redraw (an event, a full-size picture) is only for a person moving it."""
    fn_indexes = set(page.evaluate(SLIDER_EVENTS))
    assert fn_indexes, "the slider's events are found (else the check below could not fail)"
    fired: list[int] = []

    def seen(request) -> None:  # type: ignore[no-untyped-def]
        if request.method == "POST" and ("/queue/join" in request.url or "/run/predict" in request.url):
            fn = (request.post_data_json or {}).get("fn_index")
            if fn in fn_indexes:
                fired.append(fn)

    page.on("request", seen)
    page.locator("#example-images").click()
    wait_state(page, "completed")
    page.wait_for_function("document.querySelectorAll('#gallery button.thumbnail-item').length > 0", timeout=LONG)
    time.sleep(2)  # any chained event has gone out by now
    assert fired == [], f"the slider's redraw ran after Run: {fired}"
    page.wait_for_function(f"{OBJECT_ROWS} >= 1", timeout=LONG)
    before = object_rows(page)
    set_number(page, "review-conf", 0.999)  # a person moving it still redraws the large view's objects
    page.wait_for_function(f"{OBJECT_ROWS} < {before}", timeout=LONG)
    assert fired, "moving the slider sends its event"


# samples every 50 ms which panels show Gradio's loading overlay (a status wrap without "hide")
WATCH_OVERLAYS = """(() => {
  window.__overlays = new Set();
  const ids = ['gallery', 'large-view', 'review-counts', 'keep', 'progress'];
  window.__watch = setInterval(() => ids.forEach(id => {
    const wrap = document.querySelector('#' + id + ' .wrap');
    if (wrap && !wrap.classList.contains('hide')) window.__overlays.add(id);
  }), 50);
})()"""


def test_while_run_waits_for_its_first_result_only_the_progress_bar_says_so(page, tmp_path):
    """The gallery, large view, counts and objects do not each flash a loading overlay while Run's reply
    waits for the first result: the progress bar alone shows it (each overlay is a timer Gradio's page
    redraws every frame, on the cores the model runs on)."""
    add_images(page, copies(tmp_path, 8))
    set_number(page, "batch-size", 1)
    set_number(page, "img-size", 1536)  # a first result slow enough on any machine for the 50 ms samples to see the wait
    page.evaluate(WATCH_OVERLAYS)
    run(page)
    wait_state(page, "completed")
    seen = page.evaluate("clearInterval(window.__watch) || [...window.__overlays]")
    assert "progress" in seen, f"the progress bar shows Run working (else the check below could not fail): {seen}"
    assert set(seen) == {"progress"}, f"loading overlays on {sorted(set(seen) - {'progress'})}"
