"""Workspace input picked by name, and each upload mode changing the workspace as its preview said."""

from __future__ import annotations

import re

import httpx

from tests.e2e.pages import LONG, choose, open_tab, progress, run, text_of, wait_state, wait_text

NUMBERS = re.compile(r"add (\d+) objects, replace (\d+), skip (\d+) duplicates, in (\d+) images")


def objects_in(app_url: str, dataset_id: int) -> int:
    images = httpx.get(f"{app_url}/v1/datasets/{dataset_id}/images", timeout=10).json()["images"]
    return sum(im["annotations"] for im in images)


def demo_dataset(app_url: str) -> int:
    projects = httpx.get(f"{app_url}/v1/projects", timeout=10).json()["projects"]
    pid = next(p["id"] for p in projects if p["name"] == "Demo shapes")
    datasets = httpx.get(f"{app_url}/v1/projects/{pid}/datasets", timeout=10).json()["datasets"]
    return next(d["id"] for d in datasets if d["images"] == 4)


def upload(page, mode: str, project: str = "") -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Preview, then upload; returns both summaries' numbers (added, replaced, skipped, images)."""
    page.locator("#upload-mode").get_by_text(f"{mode}:").click()
    if project:
        page.locator("#upload-project textarea, #upload-project input").first.fill(project)
    page.locator("#upload-preview").click()
    preview = wait_text(page, "upload-summary", rf"Preview \({mode}\)")
    page.locator("#upload").click()
    done = wait_text(page, "upload-summary", rf"Uploaded \({mode}\)")
    return tuple(map(int, NUMBERS.search(preview).groups())), tuple(map(int, NUMBERS.search(done).groups()))  # type: ignore[union-attr]


def test_each_upload_mode_changes_the_workspace_as_previewed(page, app_url):
    dataset = demo_dataset(app_url)
    open_tab(page, "Workspace")
    choose(page, "ws-project", "Demo shapes")
    choose(page, "ws-datasets", "4 images")
    run(page)
    wait_state(page, "completed")
    assert progress(page)[:2] == (4, 4)
    page.locator("#upload-mode").get_by_text("append:").click()
    wait_text(page, "upload-target", r"Into the images these results came from, in Demo shapes")

    start = objects_in(app_url, dataset)
    preview, done = upload(page, "append")
    assert preview == done and done[0] > 0 and done[3] == 4
    assert objects_in(app_url, dataset) == start + done[0]

    preview, done = upload(page, "iou_merge")  # the same objects again: every one is a duplicate
    assert preview == done and done[0] == 0 and done[2] > 0
    assert objects_in(app_url, dataset) == start + done[2]  # unchanged: what append added, and no more

    preview, done = upload(page, "replace")
    assert preview == done and done[1] > 0
    assert objects_in(app_url, dataset) == done[0]

    preview, done = upload(page, "create", project="reviewed shapes")
    assert preview[0] == done[0] and done[3] == 4
    summary = text_of(page, "upload-summary")
    assert "Project reviewed shapes now has 4 images" in summary
    page.locator("#ws-refresh").click()
    page.locator("#ws-project input").first.click()
    page.get_by_role("option", name=re.compile("reviewed shapes — 4 images")).wait_for(timeout=LONG)
