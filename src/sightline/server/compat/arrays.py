"""Raw NumPy images sent over HTTP (Roboflow's ``{"type": "numpy"}``): ``.npy`` bytes, or a pickled array
read by an unpickler that can build nothing but plain arrays, so a request can never run code."""

from __future__ import annotations

import base64
import binascii
import io
import pickle

import numpy as np

from sightline.inputs.images import ImageDecodeError, array_to_rgb, check_pixels

# what pickle.dumps(ndarray) refers to, under NumPy 1.x and 2.x module names; nothing else is loadable
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise ImageDecodeError(f"a pickled NumPy image may hold only a plain array, not {module}.{name}")
        return super().find_class(module, name)


def decode_numpy_image(value: object, max_pixels: int) -> np.ndarray:
    """A base64 ``.npy`` file or pickled array of a **BGR** image (OpenCV's order, as Roboflow's clients send
    it) → H×W×3 uint8 RGB. Object arrays, other pickled objects and oversized images are refused."""
    if not isinstance(value, str):
        raise ImageDecodeError("a numpy image's value must be a base64 string (np.save bytes or a pickled array)")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ImageDecodeError("a numpy image's value is not valid base64") from None
    try:
        if data.startswith(b"\x93NUMPY"):
            array = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            array = _ArrayUnpickler(io.BytesIO(data)).load()
    except ImageDecodeError:
        raise
    except Exception as exc:  # a malformed payload of any kind: say so without echoing it
        raise ImageDecodeError(f"the numpy image could not be read ({type(exc).__name__})") from None
    if not isinstance(array, np.ndarray) or array.dtype == object:
        raise ImageDecodeError("the numpy image must be a numeric array")
    if array.ndim >= 2:
        check_pixels(int(array.shape[1]), int(array.shape[0]), max_pixels)
    rgb = array_to_rgb(array)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        rgb = np.ascontiguousarray(rgb[..., ::-1])  # BGR(A) → RGB
    return rgb
