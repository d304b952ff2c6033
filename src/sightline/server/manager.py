"""The model manager: which models are loaded, each behind its own inference worker.

Loading is serialised per name (two clients asking for the same model load it once); the least recently
used model is unloaded when ``max_loaded_models`` would be exceeded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import torch

from sightline.engine.worker import InferenceWorker
from sightline.errors import ConflictError, NotFoundError
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
        self.default: str | None = None
        self.batch_observer: Callable[[str, int, bool], None] | None = None  # (model, images, succeeded): metrics

    def _observe(self, name: str) -> Callable[[int, bool], None]:
        def observe(size: int, ok: bool) -> None:
            if self.batch_observer is not None:
                self.batch_observer(name, size, ok)

        return observe

    def add(self, model: Model, make_default: bool = False) -> InferenceWorker:
        """Register an already-loaded model (the server's start-up model, or one built in code)."""
        worker = InferenceWorker(model, self.max_batch_size, self.batch_wait_ms)
        worker.on_batch = self._observe(model.name)
        evicted = []
        with self._lock:
            old = self._workers.pop(model.name, None)
            if old is not None:
                evicted.append(old)
            self._workers[model.name] = worker
            while len(self._workers) > self.max_loaded:
                name, w = next((n, w) for n, w in self._workers.items() if n != model.name)
                evicted.append(self._workers.pop(name))
            if make_default or self.default is None or self.default not in self._workers:
                self.default = model.name
        for w in evicted:
            w.close()
        return worker

    def load(self, name: str, device: str = "auto") -> InferenceWorker:
        """Load ``name`` unless it is loaded already; returns its worker. A device no model can use, or another
        device than the loaded model's, is refused rather than ignored."""
        wanted = str(resolve_device(device))  # InvalidSettingError for 'quantum', or 'cuda' without a GPU
        with self._lock:
            if name in self._workers:
                loaded = self._workers[name].model.device
                if device != "auto" and torch.device(wanted) != torch.device(loaded):
                    raise ConflictError(f"model {name!r} is loaded on {loaded!r}: unload it first to load it on {device!r}", 409)
                self._workers.move_to_end(name)
                return self._workers[name]
            name_lock = self._name_locks.setdefault(name, threading.Lock())
        with name_lock:
            with self._lock:
                if name in self._workers:
                    return self._workers[name]
            model = self._loader(name, device)
            model.name = name
            return self.add(model)

    def get(self, name: str | None = None) -> InferenceWorker:
        """The worker of ``name`` (the default model when None); ``NotFoundError`` when not loaded."""
        with self._lock:
            key = name or self.default
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

    def unload_all(self) -> list[str]:
        with self._lock:
            names = list(self._workers)
        for n in names:
            self.unload(n)
        return names

    def loaded(self) -> list[InferenceWorker]:
        with self._lock:
            return list(self._workers.values())
