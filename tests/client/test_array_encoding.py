"""In-memory pixels travel raw (PPM) to a server on this machine and as PNG to any other; both lossless."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from PIL import Image

import sightline
from sightline.client.encoding import encode_pixels, encoding_for, is_loopback
from sightline.inputs.images import ImageDecodeError, decode_image_bytes


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:8000", True), ("http://localhost:8000", True), ("http://[::1]:8000", True), ("http://127.8.9.1", True),
    ("http://gpu-box:8000", False), ("https://10.0.0.5", False), ("http://[2001:db8::1]:80", False), ("http://localhost.example.com", False),
])
def test_which_servers_count_as_this_machine(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback
    assert encoding_for(url) == ("raw" if loopback else "png")


def test_both_encodings_are_lossless(samples) -> None:
    rgb = samples[0].image
    for encoding in ("raw", "png"):
        data, name = encode_pixels(rgb, encoding)
        assert (decode_image_bytes(data) == rgb).all(), name
    assert len(encode_pixels(rgb, "raw")[0]) == rgb.size + len(b"P6\n%d %d\n255\n" % (rgb.shape[1], rgb.shape[0]))


def test_a_local_server_gets_raw_pixels_and_answers_as_for_png(server, samples) -> None:
    images = [s.image for s in samples[:4]] + [Image.fromarray(samples[4].image)]
    with sightline.connect(server.url) as raw, sightline.connect(server.url) as png:
        png.array_encoding = "png"
        assert raw.array_encoding == "raw"
        sent: list[str] = []
        raw._transport.client.event_hooks["request"].append(
            lambda r: sent.append(r.read().decode("latin-1")) if r.url.path.endswith("/items") else None)
        got_raw, got_png = raw.predict(input=images), png.predict(input=images)
    assert any("image.ppm" in body and "P6\n" in body for body in sent)
    for a, b in zip(got_raw, got_png):
        assert a.ok and a.classes == b.classes and a.image_size == b.image_size
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


def test_a_raw_upload_claiming_too_many_pixels_fails_only_itself(server, samples) -> None:
    lying = b"P6\n100000 100000\n255\n" + b"\x00" * 3000  # a header that claims 10^10 pixels
    with sightline.connect(server.url) as model:
        sid = httpx.post(f"{server.url}/v1/sessions", json={"model": model.info.name, "total": 2}).json()["id"]
        good_bytes, _ = encode_pixels(samples[0].image, "raw")
        files = [("files", ("x.ppm", lying, "application/octet-stream")), ("files", ("y.ppm", good_bytes, "application/octet-stream"))]
        answer = httpx.post(f"{server.url}/v1/sessions/{sid}/items", files=files,
                            data={"meta": '[{"kind": "image"}, {"kind": "image"}]', "close": "true"})
        assert answer.status_code < 400, answer.text
        session = model.session(sid)
        session.wait_done(timeout=120)
        failed, good = session.results()
    assert not failed.ok and ("pixels" in failed.error or "too large" in failed.error), failed.error
    assert good.ok and len(good) > 0


def test_image_files_go_as_they_are(tmp_path, samples, monkeypatch) -> None:
    """A PNG or JPEG file is sent byte for byte: the client never decodes or re-encodes it (only ``downsize`` does)."""
    from sightline.client import uploader as uploader_module
    from sightline.inputs.sources import SourceList, collect_sources
    from sightline.settings import InputOptions

    def no_decoding(*args, **kwargs):
        raise AssertionError("the client decoded a file it sends unchanged")

    for name in ("read_image_file", "decode_image_bytes", "encode_pixels"):
        monkeypatch.setattr(uploader_module, name, no_decoding)
    paths = []
    for fmt, suffix in (("PNG", ".png"), ("JPEG", ".jpg")):
        paths.append(tmp_path / f"image{suffix}")
        Image.fromarray(samples[0].image).save(paths[-1], format=fmt)
    up = uploader_module.Uploader(None, "session-id", SourceList(), 8, lambda: 0, lambda *_: None, lambda: False)  # type: ignore[arg-type]
    for i, source in enumerate(collect_sources([str(p) for p in paths], InputOptions())):
        data, name = up._image_bytes(source, i)
        assert data == paths[i].read_bytes() and name == paths[i].name


def pillow_rgb(data: bytes) -> np.ndarray:
    import io

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (480, 640), (7, 1)])
def test_raw_pixels_read_back_as_pillow_reads_them_and_can_be_changed(shape: tuple[int, int]) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    data, _ = encode_pixels(rgb, "raw")
    got = decode_image_bytes(data)
    assert got.shape == rgb.shape and got.dtype == np.uint8
    assert (got == rgb).all() and (got == pillow_rgb(data)).all()
    got[0, 0] = 7  # the server's model may change its input in place: a read-only view of the bytes would raise


def test_the_sdks_raw_pixels_are_read_without_a_decoder(monkeypatch) -> None:
    """The form the SDK sends a loopback server is read with one copy, ~6× faster than Pillow's decode and
    two copies on the model's cores (benchmarks/raw_pixels.py)."""
    rgb = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    data, _ = encode_pixels(rgb, "raw")

    def no_pillow(*args, **kwargs):
        raise AssertionError("the raw pixels went through Pillow")

    monkeypatch.setattr(Image, "open", no_pillow)
    assert (decode_image_bytes(data) == rgb).all()


@pytest.mark.parametrize("header", [b"P6 5 3 255\n", b"P6\t5\n3\r255 ", b"P6\n# made by hand\n5 3\n255\n"])
def test_any_ppm_header_pillow_reads_gives_the_same_pixels(header: bytes) -> None:
    pixels = bytes(range(45))
    assert (decode_image_bytes(header + pixels) == pillow_rgb(header + pixels)).all()


@pytest.mark.parametrize(("data", "words"), [
    (b"P6\n5 3\n255\n" + bytes(44), "truncated"),  # one byte short
    (b"P6\n0 3\n255\n", "not an image"),
    (b"P6\n70000 70000\n255\n" + bytes(30), "over the limit"),
])
def test_broken_raw_pixels_are_refused_in_words(data: bytes, words: str) -> None:
    with pytest.raises(ImageDecodeError, match=words):
        decode_image_bytes(data)
