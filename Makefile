# Two commands: `make run` starts the app, `make test` runs every test. On a fresh Debian or Ubuntu
# with python3 and make, both set up what they need first (scripts/setup.sh): Python 3.11-3.13, the
# system packages (installed as root, else the one command to run), a whole .venv with the pinned
# requirements (`run`: the app's; `test`: the test tools too) and, for `test`, a Chromium.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
export PYTHON VENV

.PHONY: run test setup setup-test browser bench train-demo eval-demo assets clean-venv

setup:
	@scripts/setup.sh app

setup-test:
	@scripts/setup.sh test

# the system's Chromium or Playwright's own, whichever exists (tests/e2e/browser.py)
browser: setup-test
	@$(PY) -m tests.e2e.browser >/dev/null 2>&1 || scripts/system-deps.sh browser $(PY)

run: setup
	$(PY) app.py

# e.g. make test PYTEST_ARGS="-x -q tests/workspace"
test: setup-test browser
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup-test
	$(PY) benchmarks/engine_throughput.py
	$(PY) benchmarks/server_throughput.py
	$(PY) benchmarks/video_pipeline.py
	$(PY) benchmarks/upload_throughput.py
	$(PY) benchmarks/ui_run.py
	$(PY) benchmarks/sse_readers.py
	$(PY) benchmarks/slow_urls.py

train-demo: setup
	$(PY) -m sightline.models.demo.train --out assets/models/shapes.pt

eval-demo: setup
	$(PY) -m sightline.models.demo.evaluate --checkpoint assets/models/shapes.pt

assets: setup
	$(PY) -m sightline.models.demo.make_samples --out assets/samples

clean-venv:
	rm -rf $(VENV)
