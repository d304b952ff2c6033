"""A small server-sent-events parser over an iterator of lines (httpx's ``iter_lines``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass
class Event:
    event: str
    data: str
    id: str | None = None


def parse_events(lines: Iterable[str]) -> Iterator[Event]:
    event, data, eid = "message", [], None
    for line in lines:
        if line == "":
            if data:
                yield Event(event, "\n".join(data), eid)
            event, data, eid = "message", [], None
        elif line.startswith(":"):
            continue  # a comment: keepalive
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                eid = value
    if data:
        yield Event(event, "\n".join(data), eid)
