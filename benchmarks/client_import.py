"""How long importing the client takes, and that it loads no torch, SQLAlchemy, PyAV, Gradio or OpenCV.

    .venv/bin/python benchmarks/client_import.py [--rounds 5]

Each round is a fresh interpreter that runs ``import sightline`` and touches ``connect``, ``RemoteModel``,
``Prediction`` and the errors (which loads the modules a client uses: httpx, supervision, pycocotools).
The full SDK (``sightline.load``, which needs torch) is measured the same way for comparison.
Target: the client under 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ("torch", "torchvision", "sqlalchemy", "av", "gradio", "cv2", "fastapi", "trackers")
PROBE = """
import json, sys, time
t, cpu = time.perf_counter(), time.process_time()
import sightline
{touch}
took, cpu = time.perf_counter() - t, time.process_time() - cpu
print(json.dumps({{"s": took, "cpu": cpu, "heavy": sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))}}))
"""
CLIENT = "sightline.connect, sightline.RemoteModel, sightline.Prediction, sightline.NotFoundError, sightline.RemoteModel.session"
FULL = "sightline.load, sightline.LocalModel"


def measure(touch: str) -> tuple[float, float, list[str]]:
    code = PROBE.format(touch=touch, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return got["s"], got["cpu"], got["heavy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    client, client_cpu, full, full_cpu = [], [], [], []
    heavy: list[str] = []
    for _ in range(args.rounds):  # interleaved
        took, cpu, heavy = measure(CLIENT)
        client.append(took)
        client_cpu.append(cpu)
        took, cpu, _ = measure(FULL)
        full.append(took)
        full_cpu.append(cpu)
    # CPU time is what the import costs this process; on a machine shared with other jobs the wall time
    # also holds the time spent waiting for a core (compare the load average)
    print(f"{'import the client (best / median)':<44}{min(client):9.3f} s  {statistics.median(client):7.3f} s  "
          f"CPU {statistics.median(client_cpu):.3f} s  target < 1; heavy modules loaded: {heavy or 'none'}")
    print(f"{'import the full SDK (best / median)':<44}{min(full):9.3f} s  {statistics.median(full):7.3f} s  CPU {statistics.median(full_cpu):.3f} s")


if __name__ == "__main__":
    main()
