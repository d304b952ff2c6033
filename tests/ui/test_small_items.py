"""The smaller things a reviewer notices: an image over the pixel limit says so, one error on screen at a
time, a GPU that is not there, and stopping the webcam."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from PIL import Image

from sightline.engine.status import SessionState
from sightline.ui import live_panel, model_panel, review_panel, run_panel
from tests.ui.conftest import settings, sources, tick_until_final, uploaded


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_an_image_over_the_pixel_limit_is_called_too_large_with_the_limit(ctx, state, upload_folder, tmp_path, suffix):
    big = tmp_path / f"huge{suffix}"
    Image.new("RGB", (7500, 7500), (120, 130, 140)).save(big)  # 56 MP, a small file
    files = [str(uploaded(upload_folder, big))]
    state, _, message, _, _ = run_panel.start(ctx, state, sources(files=files), settings())
    assert message == ""
    tick_until_final(state)
    (pred,) = state.run.predictions
    counts = review_panel.counts(state.run, 0.0)
    assert f"huge{suffix}" in counts and "7500×7500 pixels, over the limit of 50,000,000" in counts, counts
    assert "corrupt" not in counts
    state.selected = 0
    _, name, _, _, text = review_panel.show(state, 0.0, True, True, True)
    assert "over the limit of 50,000,000" in text and "corrupt" not in text


def test_a_refused_start_replaces_the_old_runs_error(ctx, state, sample_dir, monkeypatch):
    files = [str(sample_dir / "img_00.png")]
    state, *_ = run_panel.start(ctx, state, sources(files=files), settings())
    tick_until_final(state)
    run = state.run
    real = run.session.status()
    failed = dataclasses.replace(real, state=SessionState.FAILED, error="the model raised on every image")
    monkeypatch.setattr(run.session, "status", lambda: failed)  # as the server reports a failed run
    assert "the model raised on every image" in run_panel.tick(state, 0.0, 60)[0]
    state, bar, message, _, _ = run_panel.start(ctx, state, sources(kind="urls", urls="not a url"), settings())
    assert message.startswith("**Could not start:**") and "is not a web address" in message
    assert "the model raised on every image" not in bar and "data-state='failed'" in bar  # the old run's bar, one error on screen


def test_deploying_on_cuda_without_a_gpu_says_so(ctx, state):
    before = state.connection
    state, card, message = model_panel.deploy(ctx, state, "demo/shapes", "cuda")
    assert message.startswith("**Could not deploy demo/shapes:**") and "no usable CUDA GPU" in message and "'cpu' or 'auto'" in message
    assert state.connection is before  # the tab keeps predicting with what it had


def test_stopping_the_webcam_is_reported_and_closes_the_stream(ctx, state, samples):
    assert live_panel.stopped(state)[1].startswith("**Webcam stopped.**")  # a stop before any frame
    frame = samples[0].image
    deadline = time.monotonic() + 30
    while "FPS" not in live_panel.on_frame(state, frame, 0.3)[2]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stream = state.live
    state, text = live_panel.stopped(state)
    assert text.startswith("**Webcam stopped.**") and "frames predicted of" in text and "the live stream is closed" in text
    assert state.live is None and state.live_key is None
    assert stream is not None and np.asarray(frame).size  # the stream object was the one opened by the frames
