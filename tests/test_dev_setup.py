"""The test set-up itself: which browser the browser tests pick, and when PostgreSQL tests skip."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.e2e.browser import is_snap_wrapper, system_chromium
from tests.workspace.conftest import postgres_unavailable

UBUNTU_WRAPPER = """#!/bin/sh
if ! [ -x /snap/bin/chromium ]; then
    echo "Command '$0' requires the chromium snap to be installed." >&2
    exit 1
fi
exec /snap/bin/chromium "$@"
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_ubuntu_snap_wrapper_is_not_a_browser(tmp_path, monkeypatch):
    wrapper = _executable(tmp_path / "chromium-browser", UBUNTU_WRAPPER)
    assert is_snap_wrapper(wrapper)
    monkeypatch.setenv("SIGHTLINE_CHROMIUM", str(wrapper))
    assert system_chromium() != wrapper


def test_a_real_launcher_is_chosen(tmp_path, monkeypatch):
    launcher = _executable(tmp_path / "chromium", "#!/bin/sh\nexec /usr/lib/chromium/chromium \"$@\"\n")
    assert not is_snap_wrapper(launcher)
    monkeypatch.setenv("SIGHTLINE_CHROMIUM", str(launcher))
    assert system_chromium() == launcher


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once this socket closes


def test_postgres_tests_skip_with_the_reason_when_no_server_answers():
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"
    started = time.monotonic()
    reason = postgres_unavailable(url)
    assert reason is not None and "did not answer" in reason and url.split("@")[1].split("/")[0] in reason
    assert time.monotonic() - started < 30  # a short connect timeout, not a hang


def test_postgres_left_out_when_the_url_is_empty():
    assert "SIGHTLINE_TEST_DATABASE_URL" in postgres_unavailable("")
