"""Fixing objects in the box editor with the mouse (issue 13): move a box, drag a corner, change a class,
remove an object; then Save fixes, and the fixes are what the page shows, exports and uploads.

The editor (``gradio_image_annotation`` 0.5.6) draws on a canvas and hit-tests pointer events itself:
``pointerdown`` on the canvas picks a box (its handles first, then its inside, in the order of the boxes),
``pointermove``/``pointerup`` on the document drag it, and ``dblclick`` opens the class dialog of the box
the ``pointerdown`` picked. Two things make a computed click miss: a click focuses the editor's container,
which scrolls the page when the editor is only half in view (so a point computed before it lands elsewhere:
the second click of a double-click then picks no box and no dialog opens); and the picture loads after the
canvas, which lays the boxes out again. So every point is computed from the canvas's rectangle at that
moment, the editor is scrolled into view and focused first, and a box is known to be in place when the
canvas's own cursor says the pointer is over its corner handle.
"""

from __future__ import annotations

import io
import json
import time
import zipfile

from PIL import Image

from tests.e2e.pages import LONG, SAMPLES, add_images, object_rows, run, text_of, wait_state, wait_text

CANVAS = "#box-editor canvas"
DIALOG = "#model-box-edit"
GEOMETRY = f"""() => {{ const c = document.querySelector('{CANVAS}'); const r = c.getBoundingClientRect();
    return [c.width, c.height, r.left, r.top, r.width, r.height, c.style.cursor]; }}"""
ROWS = """() => { const rows = {};  // the table's cells are divs (it is virtual), one row of them per object
    for (const c of document.querySelectorAll('#objects [role=gridcell][data-row]'))
        (rows[c.dataset.row] ??= [])[Number(c.dataset.col)] = c.textContent.trim();
    return Object.values(rows); }"""
Box = tuple[int, int, int, int]


class Editor:
    """The box editor of the page, driven as a person drives it, in the editor picture's pixels."""

    def __init__(self, page, image_width: int) -> None:  # type: ignore[no-untyped-def]
        self.page = page
        self.image_width = image_width  # the picture the editor was given (the source up to VIEW_SIDE)

    def expand(self) -> None:
        self.page.locator("#fix").get_by_text("Fix objects").first.click()

    def ready(self) -> None:
        self.page.locator(CANVAS).wait_for(timeout=LONG)
        container = self.page.locator("#box-editor .annotator-container")
        container.scroll_into_view_if_needed()
        container.focus()  # a click focuses it: focus it now, so that no click scrolls the page under the pointer

    def point(self, x: float, y: float) -> tuple[float, float]:
        """Where on the screen the editor picture's pixel (x, y) is now. The canvas shows the picture
        centred at its size, or shrunk to the canvas's width when it is wider."""
        width, height, left, top, css_width, css_height, _ = self.page.evaluate(GEOMETRY)
        fit = min(1.0, width / self.image_width)
        pad = max(0.0, (width - self.image_width) / 2)
        return left + (pad + x * fit) * css_width / width, top + y * fit * css_height / height

    def cursor(self) -> str:
        return str(self.page.evaluate(GEOMETRY)[-1])

    def hover_handle(self, x: float, y: float, cursor: str = "nwse-resize", timeout: float = LONG, what: str = "") -> None:
        """Put the pointer on the handle at (x, y); waits until the canvas says it is over it."""
        deadline = time.monotonic() + timeout / 1000
        while True:
            self.page.mouse.move(*self.point(x, y))
            if self.cursor() == cursor:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what or 'a box'}: no {cursor} handle at ({x}, {y}) of the editor's picture (the cursor is {self.cursor()!r})"
                )
            self.page.mouse.move(*self.point(x + 40, y + 40))  # off and on again: the cursor follows moves only
            time.sleep(0.2)

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        self.page.mouse.move(*self.point(*start))
        self.page.mouse.down()
        self.page.mouse.move(*self.point(*end), steps=10)  # the box follows each pointermove
        self.page.mouse.up()

    def dialog(self, x: float, y: float):  # type: ignore[no-untyped-def]
        """Double-click (x, y): the class dialog of the box there."""
        self.page.mouse.dblclick(*self.point(x, y))
        dialog = self.page.locator(DIALOG)
        dialog.wait_for(timeout=10_000)
        return dialog


def table(page) -> dict[int, list[str]]:  # type: ignore[no-untyped-def]
    """The objects table, by object index, once it has drawn every row (it fills in steps)."""
    deadline = time.monotonic() + LONG / 1000
    last: list[list[str]] = []
    while time.monotonic() < deadline:
        rows = page.evaluate(ROWS)
        complete = len(rows) == object_rows(page) and all(len(r) == 9 and None not in r for r in rows)
        if complete and rows == last:
            return {int(r[0]): r for r in rows}
        last = rows
        time.sleep(0.3)
    raise AssertionError(f"the objects table never settled: {last}")


def corners(row: list[str]) -> tuple[float, float, float, float]:
    return float(row[4]), float(row[5]), float(row[6]), float(row[7])


def in_editor(row: list[str]) -> Box:
    """An object's box as the editor was sent it (source pixels, rounded; the sample is under VIEW_SIDE)."""
    return tuple(int(round(v)) for v in corners(row))  # type: ignore[return-value]


def open_result(page, fix_first: bool = False) -> Editor:  # type: ignore[no-untyped-def]
    """Run the model on a sample and open its result in the editor: Fix objects opened after the picture
    is clicked, or before (``fix_first``: the editor then mounts with the classes already set, and its
    class dialog recolours a box it relabels)."""
    add_images(page, [SAMPLES[0]])
    run(page)
    wait_state(page, "completed")
    editor = Editor(page, Image.open(SAMPLES[0]).width)
    if fix_first:
        editor.expand()
    page.locator("#gallery button.thumbnail-item").first.click()
    wait_text(page, "keep", r"object 0: ")
    if not fix_first:
        editor.expand()
    editor.ready()
    wait_text(page, "fix-message", r"Fixing .*: \d+ objects")
    return editor


def of_class(rows: dict[int, list[str]], name: str) -> list[int]:
    """The objects of class ``name``, largest box first."""

    def area(i: int) -> float:
        x0, y0, x1, y1 = corners(rows[i])
        return (x1 - x0) * (y1 - y0)

    return sorted((i for i, r in rows.items() if r[1] == name), key=area, reverse=True)


def coco_boxes(page) -> list[tuple[str, list[float]]]:  # type: ignore[no-untyped-def]
    """Export COCO from the page and read it back: (class, [x, y, w, h]) per object."""
    page.locator("#export").click()
    wait_text(page, "export-message", r"Exported")
    link = page.locator("#export-files a").first
    link.wait_for(timeout=LONG)
    data = page.request.get(link.get_attribute("href")).body()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".json"))
        coco = json.loads(archive.read(name))
    names = {c["id"]: c["name"] for c in coco["categories"]}
    return [(names[a["category_id"]], [float(v) for v in a["bbox"]]) for a in coco["annotations"]]


def set_label(dialog, name: str) -> None:  # type: ignore[no-untyped-def]
    """Pick ``name`` in the editor's label dialog (its list holds the box's class and the classes matching
    what is typed) and close it with OK."""
    dialog.get_by_role("listbox", name="Label").fill(name)
    dialog.get_by_role("option", name=name, exact=True).click()
    dialog.get_by_role("button", name="OK").click()
    dialog.wait_for(state="detached", timeout=10_000)


def save_fixes(page, saved: str, objects: int) -> None:  # type: ignore[no-untyped-def]
    """Save the editor's fixes; wait for the message ``saved`` and for the table to list ``objects`` rows."""
    page.locator("#save-fixes").click()
    wait_text(page, "fix-message", saved)
    page.wait_for_function(
        f"{objects} == Number(document.querySelector('#objects [role=grid]')?.getAttribute('aria-rowcount') || 1) - 1",
        timeout=LONG,
    )


def test_moving_a_box_and_dragging_a_corner_reach_the_table_and_the_export(page):
    editor = open_result(page)
    rows = table(page)
    triangle, square = of_class(rows, "triangle")[0], of_class(rows, "square")[0]
    t0, t1, t2, t3 = in_editor(rows[triangle])
    s0, s1, s2, s3 = in_editor(rows[square])

    editor.hover_handle(t2, t3)  # the boxes are laid out where they were sent
    editor.drag(((t0 + t2) / 2, (t1 + t3) / 2), ((t0 + t2) / 2 - 100, (t1 + t3) / 2 + 50))
    editor.hover_handle(t2 - 100, t3 + 50)  # the canvas shows the box moved
    editor.hover_handle(s2, s3)
    editor.drag((s2, s3), (s2 + 20, s3 + 15))
    editor.hover_handle(s2 + 20, s3 + 15)

    page.locator("#save-fixes").click()
    wait_text(page, "fix-message", r"Saved: 2 changed\.")
    page.wait_for_function("document.querySelector('#keep').innerText.split('· fixed').length - 1 == 2", timeout=LONG)
    after = table(page)
    moved, resized = corners(after[triangle]), corners(after[square])
    x0, y0, x1, y1 = corners(rows[triangle])
    assert near(moved, (x0 - 100, y0 + 50, x1 - 100, y1 + 50)), f"moved by (-100, 50): {rows[triangle]} -> {after[triangle]}"
    x0, y0, x1, y1 = corners(rows[square])
    assert near(resized, (x0, y0, x1 + 20, y1 + 15)), f"corner dragged by (20, 15): {rows[square]} -> {after[square]}"
    assert after[triangle][8] == after[square][8] == "yes (fixed)" and after[triangle][2] == rows[triangle][2], (
        "fixed, score kept"
    )
    wait_text(page, "review-counts", r"1 result fixed by hand")
    editor.hover_handle(moved[2], moved[3])  # the editor shows the fixed result, with the box where it was put

    exported = coco_boxes(page)
    for name, (x0, y0, x1, y1) in (("triangle", moved), ("square", resized)):
        assert (name, [x0, y0, x1 - x0, y1 - y0]) in exported, f"{name} {x0, y0, x1, y1} not exported as shown: {exported}"


def near(got: tuple[float, ...], want: tuple[float, ...]) -> bool:
    """Corners as the table showed them moved: the editor is sent whole pixels, the table shows tenths."""
    return all(abs(g - w) <= 0.55 for g, w in zip(got, want, strict=True))


def test_changing_a_class_and_removing_an_object_reach_the_list_and_the_upload(page):
    editor = open_result(page, fix_first=True)
    rows = table(page)
    big, small = of_class(rows, "square")[:2]
    b0, b1, b2, b3 = in_editor(rows[big])
    s0, s1, s2, s3 = in_editor(rows[small])
    assert b0 <= s0 and b1 <= s1 and s2 <= b2 and s3 <= b3, "the sample has a small square inside a big one"
    before, score, big_box, small_box = len(rows), rows[big][2], corners(rows[big]), corners(rows[small])

    editor.hover_handle(s2, s3)
    dialog = editor.dialog((s0 + s2) / 2, (s1 + s3) / 2)  # inside the small square, which is inside the big one
    dialog.get_by_role("button", name="Remove").click()
    dialog.wait_for(state="detached", timeout=10_000)
    editor.hover_handle(b2, b3, timeout=10_000, what="the big square must stay (Remove was for the small one inside it)")
    dialog = editor.dialog(b0 + 8, b1 + 8)
    set_label(dialog, "circle")
    save_fixes(page, r"Saved: 1 changed, 1 deleted\.", before - 1)
    rows = table(page)
    fixed = [r for r in rows.values() if r[8] == "yes (fixed)"]
    assert len(fixed) == 1 and fixed[0][1] == "circle", rows
    assert corners(fixed[0]) == big_box, "the big square is the one relabelled, its box as the model found it"
    assert fixed[0][2] == score, "a changed class keeps the object's score (a box drawn by hand would score 1.0)"
    assert small_box not in [corners(r) for r in rows.values()], "the small square is gone"
    assert f"object {before - 2}:" in text_of(page, "keep") and f"object {before - 1}:" not in text_of(page, "keep")

    page.locator("#upload-preview").click()
    wait_text(page, "upload-summary", rf"Preview.*add \*?\*?{before - 1}\*?\*? objects")


def empty_corner(rows: dict[int, list[str]], width: int, height: int, side: int = 60) -> Box:
    """A ``side``-pixel square of the picture no object's box touches (with a margin), where a new box can be drawn."""
    boxes = [corners(r) for r in rows.values()]
    for y in range(10, height - side - 10, 10):
        for x in range(10, width - side - 10, 10):
            if all(x + side + 8 < b[0] or b[2] + 8 < x or y + side + 8 < b[1] or b[3] + 8 < y for b in boxes):
                return x, y, x + side, y + side
    raise AssertionError(f"no empty {side}-pixel square in a {width}x{height} picture with boxes {boxes}")


def test_drawing_a_missing_box_adds_an_object_scored_by_hand_to_the_list_the_export_and_the_upload(page):
    editor = open_result(page)
    rows = table(page)
    before = len(rows)
    width, height = Image.open(SAMPLES[0]).size
    x0, y0, x1, y1 = empty_corner(rows, width, height)

    page.locator("#box-editor button[aria-label='Create box']").click()
    editor.drag((x0, y0), (x1, y1))  # in "create" mode a drag on the picture draws a box, then asks its class
    dialog = page.locator(DIALOG)
    dialog.wait_for(timeout=10_000)
    set_label(dialog, "triangle")
    save_fixes(page, r"Saved: 1 drawn by hand\.", before + 1)
    after = table(page)
    drawn = [r for i, r in after.items() if corners(r) not in [corners(x) for x in rows.values()]]
    assert len(drawn) == 1, f"one new object: {rows} -> {after}"
    (new,) = drawn
    assert new[1] == "triangle" and float(new[2]) == 1.0 and new[3] == "" and new[8] == "yes (fixed)", new
    assert near(corners(new), (x0, y0, x1, y1)), f"drawn at {(x0, y0, x1, y1)}, the table says {corners(new)}"
    assert sorted(corners(r) for i, r in after.items() if r is not new) == sorted(corners(r) for r in rows.values()), (
        "the model's objects stay as they were"
    )
    wait_text(page, "review-counts", rf"\*?\*?{before + 1}\*?\*? of {before + 1} objects")
    wait_text(page, "keep", rf"object {before}: triangle 1\.00 · fixed")

    exported = coco_boxes(page)
    assert len(exported) == before + 1
    nx0, ny0, nx1, ny1 = corners(new)
    assert ("triangle", [nx0, ny0, nx1 - nx0, ny1 - ny0]) in exported, exported
    page.locator("#upload-preview").click()
    wait_text(page, "upload-summary", rf"Preview.*add \*?\*?{before + 1}\*?\*? objects")
