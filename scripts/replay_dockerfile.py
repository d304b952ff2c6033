"""Replays a Dockerfile in a chroot, for machines where no container engine runs.

Run by scripts/replay-dockerfile.sh, which makes the root (a Debian root standing for the base image)
and mounts /proc, /dev and /sys in it. A small parser, on purpose: only the instructions sightline's
Dockerfile uses are supported (FROM, ARG, ENV, USER, WORKDIR, COPY [--chown], RUN in shell form,
EXPOSE, HEALTHCHECK CMD in shell form, CMD in exec form); any other stops the replay, naming its line.
Variables are substituted as Docker does for `$NAME`, `${NAME}` and `${NAME:-default}`.

After the last step the CMD runs as the image's user, the HEALTHCHECK command is run until it succeeds,
and the app is stopped; then the app is started again with the workspace on a missing and on a
read-only /data, which must give the app's clear warning and no traceback.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED = {"FROM", "ARG", "ENV", "USER", "WORKDIR", "COPY", "RUN", "EXPOSE", "HEALTHCHECK", "CMD"}
# what python:3.11-slim-bookworm sets before our Dockerfile starts (LANG; PATH starts with /usr/local/bin)
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::-([^}]*))?\}|(\w+))")


@dataclass
class Instruction:
    line: int
    keyword: str
    text: str


def parse(text: str) -> list[Instruction]:
    """The Dockerfile's instructions: continuation lines joined, comments and blank lines dropped."""
    instructions, parts, start = [], [], 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # inside a continuation too, as Docker does
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        keyword, _, rest = " ".join(parts).partition(" ")
        if keyword.upper() not in SUPPORTED:
            raise ValueError(f"line {start}: {keyword} is not supported by this replay (only {sorted(SUPPORTED)})")
        instructions.append(Instruction(start, keyword.upper(), rest.strip()))
        parts = []
    return instructions


def substitute(value: str, variables: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        return variables.get(name) or (match.group(2) or "")

    return _VARIABLE.sub(one, value)


@dataclass
class Image:
    """What the build has set so far: the state the next instruction runs in."""

    args: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=lambda: dict(BASE_ENV))
    user: str = "root"
    workdir: str = "/"
    healthcheck: str | None = None
    cmd: list[str] | None = None

    def variables(self) -> dict[str, str]:
        return {**self.args, **self.env}


class Replay:
    def __init__(self, root: Path, context: Path, build_args: dict[str, str], log_dir: Path):
        self.root, self.context, self.build_args, self.log_dir = root, context, build_args, log_dir
        self.image = Image()
        self.timings: list[tuple[str, float, str]] = []

    # --- running things in the root -----------------------------------------------------------------
    def chroot(self, user: str, command: str, env: dict[str, str], workdir: str) -> list[str]:
        """argv running `sh -c command` in the root as `user`, with exactly `env` (as `docker build` does)."""
        spec = "0:0" if user == "root" else f"{self.uid(user)}:{self.gid(user)}"
        pairs = [f"{k}={v}" for k, v in env.items()]
        return [
            "chroot",
            f"--userspec={spec}",
            str(self.root),
            "env",
            "-i",
            *pairs,
            "/bin/sh",
            "-c",
            f"cd {shlex.quote(workdir)} && {command}",
        ]

    def uid(self, user: str) -> str:
        return subprocess.check_output(["chroot", str(self.root), "id", "-u", user], text=True).strip()

    def gid(self, user: str) -> str:
        return subprocess.check_output(["chroot", str(self.root), "id", "-g", user], text=True).strip()

    def step(self, label: str, action) -> None:
        print(f"\n=== {label}", flush=True)
        started = time.monotonic()
        outcome = "ok"
        try:
            action()
        except Exception as e:
            outcome = f"FAILED: {e}"
            raise
        finally:
            took = time.monotonic() - started
            self.timings.append((label, took, outcome))
            print(f"--- {took:7.1f}s {outcome}", flush=True)

    # --- the instructions ----------------------------------------------------------------------------
    def run_all(self, instructions: list[Instruction]) -> None:
        for ins in instructions:
            label = f"line {ins.line}: {ins.keyword} {ins.text}"
            label = label if len(label) <= 110 else label[:107] + "..."
            self.step(label, lambda ins=ins: getattr(self, ins.keyword.lower().replace("from", "from_"))(ins.text))

    def from_(self, text: str) -> None:
        print(f"    (the root stands for {text}: see replay-dockerfile.sh)")

    def arg(self, text: str) -> None:
        name, _, default = text.partition("=")
        self.image.args[name] = self.build_args.get(name, substitute(default, self.image.variables()))
        print(f"    {name}={self.image.args[name]}")

    def env(self, text: str) -> None:
        for pair in shlex.split(text):
            name, _, value = pair.partition("=")
            self.image.env[name] = substitute(value, self.image.variables())
            print(f"    {name}={self.image.env[name]}")

    def user(self, text: str) -> None:
        self.image.user = substitute(text, self.image.variables())
        print(f"    uid {self.uid(self.image.user)}")

    def workdir(self, text: str) -> None:
        path = os.path.join(self.image.workdir, substitute(text, self.image.variables()))
        (self.root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        self.image.workdir = path

    def run(self, text: str) -> None:
        env = {**self.image.args, **self.image.env}  # ARGs reach RUN as environment, ENV wins
        argv = self.chroot(self.image.user, text, env, self.image.workdir)
        log = self.log_dir / f"run-{len(self.timings):02d}.log"
        with open(log, "w") as out:
            done = subprocess.run(argv, check=False, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        print("\n".join("    | " + line for line in log.read_text(errors="replace").splitlines()[-8:]))
        if done.returncode:
            raise RuntimeError(f"exit {done.returncode} (log: {log})")

    def copy(self, text: str) -> None:
        words = shlex.split(substitute(text, self.image.variables()))
        chown = next((w.split("=", 1)[1] for w in words if w.startswith("--chown=")), None)
        *sources, dest = [w for w in words if not w.startswith("--")]
        dest_path = os.path.normpath(os.path.join(self.image.workdir, dest))
        target = self.root / dest_path.lstrip("/")
        files = context_files(self.context)
        copied = []
        for source in sources:
            source = os.path.normpath(source)
            for relative in files:
                if source == "." or relative == source or relative.startswith(source + "/"):
                    inside = relative if source == "." else os.path.relpath(relative, os.path.dirname(source) or ".")
                    copied.append((self.context / relative, target / inside))
        for src, dst in copied:
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_symlink():  # copied as the link, as Docker does (sightline/assets is one)
                dst.unlink(missing_ok=True)
                dst.symlink_to(os.readlink(src))
                continue
            dst.write_bytes(src.read_bytes())
            dst.chmod(src.stat().st_mode & 0o777)
        if chown:
            user, _, group = chown.partition(":")
            spec = f"{self.uid(user)}:{self.gid(group or user)}"
            inside_paths = ["/" + str(d.relative_to(self.root)) for _, d in copied]
            # only what this COPY wrote, and the folders it made, as Docker does
            subprocess.run(["chroot", str(self.root), "chown", "-h", spec, *inside_paths], check=True)
            top = os.path.normpath(dest_path)
            folders = {str(parent) for p in inside_paths for parent in Path(p).parents if str(parent).startswith(top + "/")}
            if folders:
                subprocess.run(["chroot", str(self.root), "chown", "-h", spec, *sorted(folders)], check=True)
        print(f"    {len(copied)} files to {dest_path}" + (f", owned by {chown}" if chown else ""))

    def expose(self, text: str) -> None:
        print(f"    (port {text}: the chroot shares this machine's network)")

    def healthcheck(self, text: str) -> None:
        words = shlex.split(text)
        if "CMD" not in words:
            raise ValueError("only HEALTHCHECK [options] CMD command is supported")
        self.image.healthcheck = text[text.index("CMD") + 3 :].strip()

    def cmd(self, text: str) -> None:
        self.image.cmd = json.loads(text)  # exec form only


def context_files(context: Path) -> list[str]:
    """The build context as `docker build` sends it: the tree's files less the .dockerignore patterns."""
    listed = subprocess.check_output(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=context, text=True).split("\0")
    ignore_file = context / ".dockerignore"
    patterns = [p.strip() for p in ignore_file.read_text().splitlines()] if ignore_file.exists() else []
    patterns = [p for p in patterns if p and not p.startswith("#")]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for pattern in patterns:
            bare = pattern.removeprefix("**/")
            if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
                return True
            if pattern.startswith("**/") and any(fnmatch.fnmatch(part, bare) for part in parts):
                return True
        return False

    return sorted(p for p in listed if p and ((context / p).is_file() or (context / p).is_symlink()) and not ignored(p))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """The image's CMD, started like `docker run -e ...`; ended by stop() (the caller's finally)."""

    def __init__(self, replay: Replay, overrides: dict[str, str], log: Path):
        image = replay.image
        self.replay, self.env, self.log = replay, {**image.env, **overrides}, log
        argv = replay.chroot(image.user, " ".join(map(shlex.quote, image.cmd)), self.env, image.workdir)
        self.out = open(log, "w")  # noqa: SIM115 (closed by stop())
        self.process = subprocess.Popen(
            argv, stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )

    def wait_healthy(self, timeout: float) -> None:
        """Runs the HEALTHCHECK command as Docker would until it succeeds, the app exits or time is up."""
        image = self.replay.image
        check = self.replay.chroot(image.user, image.healthcheck, self.env, image.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if subprocess.run(check, check=False, capture_output=True, timeout=30).returncode == 0:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with {self.process.returncode} (log: {self.log})")
            time.sleep(3)
        raise RuntimeError(f"HEALTHCHECK did not pass in {timeout:.0f}s (log: {self.log})")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.out.close()


def serve(replay: Replay, label: str, overrides: dict[str, str], timeout: float, then=None) -> None:
    """Starts the CMD with `overrides`, waits for the HEALTHCHECK, runs `then(app)`, stops the app."""
    port = free_port()
    # this machine's loopback rather than 0.0.0.0: the chroot shares the host's network
    overrides = {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), **overrides}

    def action():
        print(f"    {' '.join(replay.image.cmd)} as {replay.image.user}, " + " ".join(f"{k}={v}" for k, v in overrides.items()))
        app = App(replay, overrides, replay.log_dir / f"{label}.log")
        try:
            app.wait_healthy(timeout)
            print(f"    HEALTHCHECK passed: GET http://127.0.0.1:{port}/ready answered")
            print(f"    /ready: {ready_body(port)}")
            if then:
                then(app)
        finally:
            app.stop()
        problems = [line for line in app.log.read_text(errors="replace").splitlines() if "Traceback" in line]
        if problems:
            raise RuntimeError(f"a traceback in the app's log ({app.log})")

    replay.step(f"{label}: CMD + HEALTHCHECK", action)


def ready_body(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10) as answer:
        return answer.read().decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--context", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--dockerfile", type=Path)
    parser.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--logs", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the first /ready")
    options = parser.parse_args()
    build_args = dict(a.split("=", 1) for a in options.build_arg)
    dockerfile = options.dockerfile or options.context / "Dockerfile"
    options.logs.mkdir(parents=True, exist_ok=True)

    replay = Replay(options.root, options.context, build_args, options.logs)
    try:
        replay.run_all(parse(dockerfile.read_text()))
        workspace = replay.image.env.get("SIGHTLINE_WORKSPACE", "")

        def workspace_written(app: App) -> None:
            folder = options.root / workspace.lstrip("/")
            uid = int(replay.uid(replay.image.user))
            entries = list(folder.rglob("*"))
            foreign = [p for p in entries if p.stat().st_uid != uid]
            print(f"    {workspace}: {len(entries)} entries, all owned by uid {uid}: {not foreign}")
            if not entries or foreign:
                raise RuntimeError(f"the app did not write its workspace as uid {uid} ({foreign[:3]})")

        serve(replay, "app", {}, options.timeout, workspace_written)

        def clear_warning(app: App) -> None:
            lines = [x for x in app.log.read_text(errors="replace").splitlines() if "cannot be used" in x]
            if not lines:
                raise RuntimeError(f"no warning naming the workspace folder in {app.log}")
            print(f"    the app says: {lines[0].strip()}")

        data = options.root / "data"
        subprocess.run(["rm", "-rf", str(data)], check=True)
        serve(replay, "data-missing", {"SIGHTLINE_WORKSPACE": "/data/sightline"}, options.timeout, clear_warning)
        data.mkdir(mode=0o555)  # root's, read-only for uid 1000: a mount it may not write
        data.chmod(0o555)
        try:
            serve(replay, "data-read-only", {"SIGHTLINE_WORKSPACE": "/data/sightline"}, options.timeout, clear_warning)
        finally:
            data.rmdir()
    except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as e:
        print(f"\nreplay stopped: {e}", file=sys.stderr)
        return 1
    finally:
        print("\n=== summary")
        for label, took, outcome in replay.timings:
            print(f"{took:8.1f}s  {outcome:6}  {label}")
        print(f"{sum(t for _, t, _ in replay.timings):8.1f}s  total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
