"""The Dockerfile's PyTorch choice, run with a stand-in pip, and the replay script's parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import replay_dockerfile  # noqa: E402 (a script beside the Dockerfile, not a package)

FAKE_PIP = """#!/bin/sh
echo "$*" >> "$PIP_CALLS"
case "$1" in freeze) printf 'torch==2.14.1+cpu\\ntorchvision==0.29.1+cpu\\nnumpy==2.4.6\\n' ;; esac
"""


def _instructions():
    return replay_dockerfile.parse((REPO / "Dockerfile").read_text())


def _torch_step(tmp_path: Path, torch: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Runs the Dockerfile's install step with TORCH=torch and a pip that only records its calls."""
    (tmp_path / "bin").mkdir()
    pip = tmp_path / "bin" / "pip"
    pip.write_text(FAKE_PIP)
    pip.chmod(0o755)
    (tmp_path / "requirements.txt").write_text((REPO / "requirements.txt").read_text())
    step = next(i for i in _instructions() if i.keyword == "RUN" and "requirements.txt" in i.text)
    calls = tmp_path / "calls"
    env = {
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
        "PIP_CALLS": str(calls),
        "TORCH": torch,
        "TORCH_CPU_INDEX": "https://example.invalid/whl/cpu",
    }
    done = subprocess.run(
        ["/bin/sh", "-c", step.text], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return done, (calls.read_text().splitlines() if calls.exists() else [])


def test_cpu_build_takes_torch_and_torchvision_from_the_cpu_index_then_keeps_them(tmp_path):
    done, calls = _torch_step(tmp_path, "cpu")
    assert done.returncode == 0, done.stderr
    first, freeze, rest = calls
    assert "--extra-index-url https://example.invalid/whl/cpu" in first
    assert "torch==2.14.1+cpu" in first.split() and "torchvision==0.29.1+cpu" in first.split()
    assert freeze.startswith("freeze")
    assert "-c /tmp/installed-torch.txt -r requirements.txt" in rest


def test_cuda_build_takes_the_package_index_torch(tmp_path):
    done, calls = _torch_step(tmp_path, "cuda")
    assert done.returncode == 0, done.stderr
    assert calls[0].split()[-2:] == ["torch==2.14.1", "torchvision==0.29.1"]
    assert "--extra-index-url" not in calls[0]


def test_an_unknown_torch_build_stops_the_build_with_its_name(tmp_path):
    done, calls = _torch_step(tmp_path, "rocm")
    assert done.returncode != 0
    assert "TORCH must be cpu or cuda, not 'rocm'" in done.stderr
    assert calls == []


def test_the_image_defaults_to_the_cpu_build_and_checks_ready():
    instructions = _instructions()
    assert any(i.keyword == "ARG" and i.text == "TORCH=cpu" for i in instructions)
    healthcheck = next(i for i in instructions if i.keyword == "HEALTHCHECK")
    assert "/ready" in healthcheck.text
    assert "ffmpeg" not in (REPO / "Dockerfile").read_text().split("No ffmpeg")[1]


def test_the_parser_names_an_instruction_it_does_not_support():
    with pytest.raises(ValueError, match="line 3: ADD is not supported"):
        replay_dockerfile.parse("FROM debian\n# a comment\nADD x /x\n")


def test_the_parser_joins_continuations_and_substitutes_like_docker():
    (run,) = replay_dockerfile.parse("RUN a \\\n  # dropped\n && b\n")
    assert run.text == "a && b"
    assert replay_dockerfile.substitute("/x:$PATH ${NOPE:-d} ${HOME}", {"PATH": "/bin", "HOME": "/h"}) == "/x:/bin d /h"


def test_the_build_context_leaves_out_what_dockerignore_names():
    files = replay_dockerfile.context_files(REPO)
    assert "Dockerfile" in files and "app.py" in files
    assert "src/sightline/assets" in files  # the link to assets/: without it the demo model is missing
    assert not [f for f in files if f.startswith((".venv/", "data/", ".git/")) or "__pycache__" in f]
