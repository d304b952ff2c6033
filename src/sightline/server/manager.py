"""The model manager: which models are loaded, each behind its own inference worker.

Loading is serialised per name (two clients asking for the same model load it once); the least recently
used model is unloaded when ``max_loaded_models`` would be exceeded, but never the default model nor one
in use (requests queued or running, or sessions not finished): when every loaded model is, a new one is
refused with 429 instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import torch

from sightline.engine.worker import InferenceWorker
from sightline.errors import ConflictError, NotFoundError, RateLimitedError
from sightline.models.base import Model
from sightline.models.torchvision_adapter import resolve_device
from sightline.models.zoo import load_model


class ModelManager:
    def __init__(
        self,
        max_loaded: int = 3,
        max_batch_size: int = 8,
        batch_wait_ms: float = 3.0,
        loader: Callable[[str, str], Model] = load_model,
    ) -> None:
        self.max_loaded = max_loaded
        self.max_batch_size = max_batch_size
        self.batch_wait_ms = batch_wait_ms
        self._loader = loader
        self._workers: OrderedDict[str, InferenceWorker] = OrderedDict()
        self._lock = threading.Lock()
        self._name_locks: dict[str, threading.Lock] = {}
        self._loaded_as: dict[str, str] = {}  # checkpoint path asked for -> the loaded model's name
        self.default: str | None = None
        self.batch_observer: Callable[[str, int, bool], None] | None = None  # (model, images, succeeded): metrics
        self.in_use: Callable[[], set[str]] = set  # names with unfinished sessions (set by the app: its session store)
        self.unloaded: list[Callable[[str], None]] = []  # called with each name unloaded or evicted, after its worker closed

    def _observe(self, name: str) -> Callable[[int, bool], None]:
        def observe(size: int, ok: bool) -> None:
            if self.batch_observer is not None:
                self.batch_observer(name, size, ok)

        return observe

    def add(self, model: Model, make_default: bool = False) -> InferenceWorker:
        """Register an already-loaded model (the server's start-up model, or one built in code).

        ``RateLimitedError`` (429) when the server is full and no loaded model may be evicted."""
        return self.attach(InferenceWorker(model, self.max_batch_size, self.batch_wait_ms), make_default)

    def attach(self, worker: InferenceWorker, make_default: bool = False) -> InferenceWorker:
        """Register a worker made elsewhere (``add``'s, or a Ray Serve deployment's ``ServeWorker``)."""
        name = worker.model.name
        worker.on_batch = self._observe(name)
        evicted: list[tuple[str, InferenceWorker]] = []
        try:
            with self._lock:
                if name not in self._workers:
                    evicted = self._make_room(keep=name)
                old = self._workers.pop(name, None)
                if old is not None:
                    evicted.append((name, old))
                self._workers[name] = worker
                if make_default or self.default is None or self.default not in self._workers:
                    self.default = name
        except BaseException:
            worker.close()
            raise
        for old_name, w in evicted:
            w.close()
            if old_name != name:
                self._notify_unloaded(old_name)
        return worker

    def _evictable(self, keep: str) -> list[str]:
        """Loaded names that may be unloaded to make room, least recently used first (under ``self._lock``):
        not ``keep``, not the default model, not one with requests queued or running or unfinished sessions."""
        busy = self.in_use()
        return [n for n, w in self._workers.items() if n not in (keep, self.default) and n not in busy and not w.busy()]

    def _full(self) -> RateLimitedError:
        return RateLimitedError(f"{len(self._workers)} models are loaded and in use; unload one first "
                                f"(POST /v1/models/unload; the server's limit is max_loaded_models={self.max_loaded})", 429)

    def _make_room(self, keep: str) -> list[tuple[str, InferenceWorker]]:
        """Take out least recently used models until one more fits (under ``self._lock``); when the models
        that may go are too few, the new model is refused."""
        excess = len(self._workers) + 1 - self.max_loaded
        if excess <= 0:
            return []
        evictable = self._evictable(keep)
        if len(evictable) < excess:
            raise self._full()
        return [(n, self._workers.pop(n)) for n in evictable[:excess]]

    def _notify_unloaded(self, name: str) -> None:
        for hook in self.unloaded:
            hook(name)

    def load(self, name: str, device: str = "auto") -> InferenceWorker:
        """Load ``name`` unless it is loaded already; returns its worker. A device no model can use, or another
        device than the loaded model's, is refused rather than ignored."""
        wanted = str(resolve_device(device))  # InvalidSettingError for 'quantum', or 'cuda' without a GPU
        with self._lock:
            key = self._loaded_as.get(name, name)  # a checkpoint path loaded before: the name its model goes by
            if key in self._workers:
                loaded = self._workers[key].model.device
                if device != "auto" and torch.device(wanted) != torch.device(loaded):
                    raise ConflictError(f"model {key!r} is loaded on {loaded!r}: unload it first to load it on {device!r}", 409)
                self._workers.move_to_end(key)
                return self._workers[key]
            name_lock = self._name_locks.setdefault(name, threading.Lock())
        with name_lock:
            with self._lock:
                key = self._loaded_as.get(name, name)
                if key in self._workers:
                    return self._workers[key]
            with self._lock:  # refuse a full server before spending seconds loading the weights
                if len(self._workers) + 1 - self.max_loaded > len(self._evictable(name)):
                    raise self._full()
            model = self._loader(name, device)  # named as sightline.load names it (a checkpoint: its meta.name or file stem)
            worker = self.add(model)
            with self._lock:
                self._loaded_as[name] = model.name
            return worker

    def get(self, name: str | None = None) -> InferenceWorker:
        """The worker of ``name`` (the default model when None); ``NotFoundError`` when not loaded."""
        with self._lock:
            key = self._loaded_as.get(name, name) if name else self.default
            if key is None or key not in self._workers:
                loaded = ", ".join(self._workers) or "none"
                raise NotFoundError(f"model {key!r} is not loaded (loaded: {loaded}); load it with POST /v1/models/load")
            self._workers.move_to_end(key)
            return self._workers[key]

    def unload(self, name: str) -> None:
        with self._lock:
            worker = self._workers.pop(name, None)
            if worker is None:
                raise NotFoundError(f"model {name!r} is not loaded")
            if self.default == name:
                self.default = next(iter(self._workers), None)
        worker.close()
        self._notify_unloaded(name)

    def unload_all(self) -> list[str]:
        with self._lock:
            names = list(self._workers)
        for n in names:
            self.unload(n)
        return names

    def loaded(self) -> list[InferenceWorker]:
        with self._lock:
            return list(self._workers.values())
