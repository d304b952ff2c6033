"""The SDK's public names present themselves as ``sightline.X``; the package ships ``py.typed``."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import sightline

# dataclasses keep their defining module: typing.get_type_hints (and Pydantic) resolve their string
# annotations in the namespace of the module that __module__ names
KEEP_MODULE = {name for name in sightline.__all__ if dataclasses.is_dataclass(getattr(sightline, name))}


def test_public_names_show_as_sightline() -> None:
    wrong = {name: getattr(sightline, name).__module__ for name in sightline.__all__
             if name not in KEEP_MODULE and getattr(sightline, name).__module__ != "sightline"}
    assert wrong == {}
    assert repr(sightline.NotFoundError) == "<class 'sightline.NotFoundError'>"
    import supervision

    for name in KEEP_MODULE:  # still resolvable (supervision is imported lazily, so a resolver passes it in)
        typing.get_type_hints(getattr(sightline, name), localns={"sv": supervision})


def test_py_typed_ships() -> None:
    assert (Path(sightline.__file__).parent / "py.typed").is_file()
