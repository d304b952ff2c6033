#!/bin/sh
# Make .venv ready for `make run` (app: the pinned requirements) or `make test` (test: the test tools
# too), from nothing but python3: checks the Python version, the system packages (system-deps.sh),
# rebuilds a half-made .venv, and installs the requirements when they changed since the last time.
#
#   scripts/setup.sh app|test      # PYTHON (python3) and VENV (.venv) from the environment
# (`test` also installs requirements-ray.txt, through requirements-dev.txt: Ray and s3fs for the scale-out tests)
set -eu
group=${1:?usage: setup.sh app|test}
python=${PYTHON:-python3}
venv=${VENV:-.venv}
here=$(dirname "$0")

# 1. a Python the pinned requirements have wheels for
if ! command -v "$python" >/dev/null; then
  echo "setup: $python not found; sightline needs Python 3.11, 3.12 or 3.13" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))'; then
  echo "setup: sightline needs Python 3.11, 3.12 or 3.13; $python is $("$python" -V 2>&1)." >&2
  echo "    make $group PYTHON=python3.13    # or any of those versions" >&2
  exit 1
fi

# 2. the system packages (installed as root, else the one command to run)
"$here/system-deps.sh" "$group" "$python"

# 3. a whole .venv: a failed `python -m venv` leaves bin/python without pip behind
want=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -e "$venv" ]; then
  have=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)
  why=""
  if [ "$have" != "$want" ]; then
    why="it is for Python $have, not $want"
  elif ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    why="it is half made (no pip)"
  fi
  if [ -n "$why" ]; then
    echo "setup: $venv: $why: building it again"
    rm -rf "$venv"
  fi
fi
if [ ! -e "$venv" ]; then
  echo "setup: creating $venv with $("$python" -V)"
  "$python" -m venv "$venv" || { rm -rf "$venv"; exit 1; }
fi

# 4. the requirements, once per version of the files that pin them
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
app_stamp="$venv/.app-installed-$(hash_of requirements.txt pyproject.toml)"
test_stamp="$venv/.installed-$(hash_of requirements.txt requirements-dev.txt requirements-ray.txt requirements-vendor-clients.txt pyproject.toml)"
if [ "$group" = app ]; then
  [ -e "$app_stamp" ] || [ -e "$test_stamp" ] && exit 0
  requirements=requirements.txt stamp=$app_stamp old="$venv/.app-installed-*"
else
  [ -e "$test_stamp" ] && exit 0
  requirements=requirements-dev.txt stamp=$test_stamp old="$venv/.installed-*"
fi
echo "setup: installing $requirements into $venv (PyTorch included: several GB and minutes the first time)"
pip="$venv/bin/python -m pip --disable-pip-version-check -q"
$pip install -r "$requirements"
if [ "$group" = test ]; then
  # the vendors' own clients for tests/compat: their declared pins clash with ours, so without their
  # dependencies (the ones their client code imports are pinned in requirements-dev.txt)
  $pip install --no-deps -r requirements-vendor-clients.txt
fi
$pip install --no-deps -e .
# shellcheck disable=SC2086
rm -f $old
touch "$stamp"
