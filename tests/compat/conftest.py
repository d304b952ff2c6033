"""Vendor clients against a live sightline server: one shared server per module, small sample inputs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import sightline
from sightline.models.zoo import load_model
from sightline.paths import SAMPLES_DIR
from sightline.server import ServerConfig, create_app
from tests.servers import LiveServer

KEY = "compat-test-key"


@pytest.fixture(scope="module")
def open_server() -> Iterator[LiveServer]:
    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=None, allow_private_urls=True, allow_model_admin=True), model=load_model("demo/shapes", "cpu"))).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[LiveServer]:
    """A public-style server: an API key, no private URLs."""
    live = LiveServer(create_app(ServerConfig(device="cpu", api_key=KEY, allow_private_urls=False), model=load_model("demo/shapes", "cpu"))).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def local_model() -> sightline.LocalModel:
    return sightline.load("demo/shapes", device="cpu")


@pytest.fixture(scope="module")
def sample_images() -> list[str]:
    return [str(SAMPLES_DIR / f"shapes_{i}.jpg") for i in (1, 2)]
