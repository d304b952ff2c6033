"""Panel handlers driven directly (no browser) against real servers with the real demo model."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import sightline
from sightline.client.remote import RemoteModel
from sightline.models.demo.synthetic import Sample
from sightline.models.zoo import load_model
from sightline.paths import SAMPLES_DIR
from sightline.server import ServerConfig, create_app
from sightline.ui import run_panel
from sightline.ui.context import AppContext, UIConfig
from sightline.ui.state import RunRegistry, UserState
from sightline.workspace.seed import seed_demo
from tests.servers import LiveServer

ZOO = ["demo/shapes", "torchvision/fasterrcnn_resnet50_fpn"]


@pytest.fixture(scope="session", autouse=True)
def upload_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Gradio's upload cache for these tests: the handlers take only files in it, as the page's uploads are."""
    folder = tmp_path_factory.mktemp("gradio-uploads")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def sample_dir(upload_folder: Path, samples: list[Sample]) -> Path:
    """The sample images, as if a visitor had uploaded them."""
    folder = upload_folder / "images"
    folder.mkdir()
    for i, s in enumerate(samples):
        Image.fromarray(s.image).save(folder / f"img_{i:02d}.png")
    return folder


@pytest.fixture(scope="session")
def sample_video(upload_folder: Path) -> Path:
    """The sample video, as if a visitor had uploaded it."""
    return Path(shutil.copy(SAMPLES_DIR / "moving_shapes.mp4", upload_folder / "moving_shapes.mp4"))


def uploaded(upload_folder: Path, source: Path, name: str | None = None) -> Path:
    """A copy of ``source`` where Gradio keeps a visitor's uploads."""
    return Path(shutil.copy(source, upload_folder / (name or source.name)))


def start_ws_server(folder: Path) -> tuple[LiveServer, int]:
    """A server with a fresh workspace seeded with the "Demo shapes" project; returns it and the project id."""
    ws = sightline.Workspace(folder)
    project_id = seed_demo(ws)
    config = ServerConfig(device="cpu", api_key=None, allow_private_urls=True, allow_model_admin=True)  # the page deploys models
    return LiveServer(create_app(config, model=load_model("demo/shapes", "cpu"), workspace=ws)).start(), project_id


def make_ctx(url: str, **config: Any) -> AppContext:
    own = RemoteModel(url, timeout=30, max_retries=1)
    ui = UIConfig(**{"allow_private_urls": True, "login": None, **config})
    return AppContext(own=own, own_info=own.info, config=ui, zoo_names=list(ZOO), runs=RunRegistry(), connect_timeout=5.0)


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, int]]:
    """Shared by a module's tests that do not change the workspace."""
    live, project_id = start_ws_server(tmp_path_factory.mktemp("ui-ws"))
    yield live, project_id
    live.stop()


@pytest.fixture(scope="module")
def ctx(ws_server: tuple[LiveServer, int]) -> Iterator[AppContext]:
    context = make_ctx(ws_server[0].url)
    yield context
    context.own.close()


@pytest.fixture()
def state(ctx: AppContext) -> UserState:
    return ctx.new_user()


def sources(kind: str = "images", files: list[str] | None = None, video: str | None = None, urls: str | None = None,
            project: int | None = None, datasets: list[int] | None = None, images: list[int] | None = None) -> list[Any]:
    """The input panel's values, in the order of ``InputPanel.sources``."""
    return [kind, files, video, urls, project, datasets, images]


def settings(conf: float = 0.25, iou: float = 0.5, classes: list[str] | None = None, img_size: float | None = 0,
             batch_size: float = 4, stride: float | None = 1, start_frame: float | None = 0, end_frame: float | None = None,
             duration: float | None = None, tracking: bool = True, tracker: str = "bytetrack") -> list[Any]:
    """The settings panel's values, in the order of ``SettingsPanel.all``."""
    return [conf, iou, classes, img_size, batch_size, stride, start_frame, end_frame, duration, tracking, tracker]


def timer_active(update: Any) -> bool:
    assert hasattr(update, "active"), f"expected a gr.Timer, got {update!r}"
    return bool(update.active)


def tick_until_final(state: UserState, conf: float = 0.0, page_size: int = 60, timeout: float = 60.0) -> list[tuple[Any, ...]]:
    """Call the timer's handler as the page would until it switches the timer off; every tick's outputs."""
    ticks = []
    deadline = time.monotonic() + timeout
    while True:
        out = run_panel.tick(state, conf, page_size)
        ticks.append(out)
        if not timer_active(out[5]):
            return ticks
        assert time.monotonic() < deadline, f"the run did not finish: {out[0]}"
        time.sleep(0.05)


def progress_attrs(html: str) -> dict[str, str]:
    """data-state, data-done and data-total of the progress bar's HTML."""
    return dict(re.findall(r"data-(state|done|total)='([^']*)'", html))


def is_skip(value: Any) -> bool:
    return isinstance(value, dict) and value == {"__type__": "update"}
