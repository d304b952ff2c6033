# Two commands: `make run` starts the app, `make test` runs every test. Both build .venv first when it
# is missing or its requirements changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt requirements-vendor-clients.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)

.PHONY: run test setup bench train-demo eval-demo assets clean-venv

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-vendor-clients.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP)

run: $(STAMP)
	$(PY) app.py

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/engine_throughput.py
	$(PY) benchmarks/server_throughput.py
	$(PY) benchmarks/video_pipeline.py
	$(PY) benchmarks/upload_throughput.py
	$(PY) benchmarks/ui_run.py
	$(PY) benchmarks/sse_readers.py

train-demo: $(STAMP)
	$(PY) -m sightline.models.demo.train --out assets/models/shapes.pt

eval-demo: $(STAMP)
	$(PY) -m sightline.models.demo.evaluate --checkpoint assets/models/shapes.pt

assets: $(STAMP)
	$(PY) -m sightline.models.demo.make_samples --out assets/samples

clean-venv:
	rm -rf $(VENV)
