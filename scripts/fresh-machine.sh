#!/usr/bin/env bash
# Proof that `make run` and `make test` set everything up on a fresh machine: builds a minimal Debian
# root (debootstrap, only python3 and make added), copies this working tree into it and, in a chroot:
#   1. as a user: `make test` must stop at once with the one command to run (no root, no apt);
#   2. as root:   `make run` must install what the app needs and serve /ready;
#   3. as root:   `make test` must install the test tools and a Chromium, then pass;
#   4. as the user again: the system check now passes.
# Prints each step, its exit code and how long it took. Slow (PyTorch downloads): not for every CI run.
#
#   sudo scripts/fresh-machine.sh [ROOT]
# Environment: SUITE (trixie), MIRROR (http://deb.debian.org/debian), PYTEST_ARGS (for a subset),
# SIGHTLINE_TEST_DATABASE_URL (passed in; the chroot shares this machine's network), KEEP=1 (keep
# ROOT; an existing ROOT is reused), DEB_CACHE (a folder debootstrap keeps its .debs in).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "fresh-machine: run as root (debootstrap, mount, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "fresh-machine: apt-get install debootstrap" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
suite=${SUITE:-trixie}
mirror=${MIRROR:-http://deb.debian.org/debian}
root=${1:-$(mktemp -d /tmp/sightline-fresh.XXXXXX)}
logs=$root.logs
mkdir -p "$root" "$logs"
summary=()

say() { printf '\n=== %s\n' "$*"; }
# step NAME EXPECTED_RC COMMAND...: runs it, logs its output, records rc and seconds
step() {
  local name=$1 expect=$2 started rc
  shift 2
  say "$name: $*"
  started=$(date +%s)
  set +e
  "$@" >"$logs/$name.log" 2>&1
  rc=$?
  set -e
  local took=$(($(date +%s) - started))
  tail -n 25 "$logs/$name.log" | sed 's/^/    | /'
  local verdict=ok
  [ "$rc" = "$expect" ] || verdict="UNEXPECTED (wanted exit $expect)"
  summary+=("$(printf '%-22s exit %-3s %6ss  %s' "$name" "$rc" "$took" "$verdict")")
  echo "--- $name: exit $rc in ${took}s: $verdict (full log: $logs/$name.log)"
}

unmount_all() {
  for m in dev/shm dev/pts dev sys proc; do
    mountpoint -q "$root/$m" && umount -l "$root/$m"
  done
  if grep -q " $root/" /proc/mounts; then
    echo "fresh-machine: something is still mounted under $root: left in place" >&2
  elif [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$root"
  fi
}
trap unmount_all EXIT

# --- the machine ------------------------------------------------------------------------------------
if [ -x "$root/usr/bin/python3" ]; then
  say "reusing the Debian root in $root"
else
  cache=()
  [ -n "${DEB_CACHE:-}" ] && mkdir -p "$DEB_CACHE" && cache=(--cache-dir="$DEB_CACHE")
  step debootstrap 0 debootstrap --variant=minbase --include=python3,make "${cache[@]}" "$suite" "$root" "$mirror"
fi
# this network, not the machine: its DNS, and the local CAs its TLS proxy needs (when it has any)
cp /etc/resolv.conf "$root/etc/resolv.conf"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
mount -t proc proc "$root/proc"
mount --bind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount --bind /dev/shm "$root/dev/shm"
chroot "$root" id dev >/dev/null 2>&1 || chroot "$root" useradd -m -s /bin/sh dev

say "the machine: $(chroot "$root" sh -c '. /etc/os-release; echo "$PRETTY_NAME"'), $(chroot "$root" python3 -V)," \
  "$(chroot "$root" dpkg-query -W -f '.\n' | wc -l) packages; no venv, no libGL, no browser, no sudo"

# this working tree (committed or not, without .venv and data) for root and for the user
copy_tree() {  # $1: folder inside the root, $2: owner (over a reused root's copy: its .venv stays)
  mkdir -p "$root/$1"
  (cd "$repo" && git ls-files -co --exclude-standard -z | tar --null -T - -c) | tar -x -C "$root/$1"
  chroot "$root" chown -R "$2" "/$1"
}
copy_tree home/dev/sightline dev:dev
copy_tree root/sightline root:root

inside() {  # $1: user; the rest: a shell command run in that user's copy, with a clean environment
  local user=$1 home=/root
  shift
  [ "$user" = root ] || home=/home/$user
  chroot --userspec="$user:$user" "$root" env -i HOME="$home" USER="$user" LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ${SIGHTLINE_TEST_DATABASE_URL+SIGHTLINE_TEST_DATABASE_URL="$SIGHTLINE_TEST_DATABASE_URL"} \
    sh -c "cd ~/sightline && $*"
}

# --- 1. a user without root: stops at once and names the one command -------------------------------
step user-make-test 2 inside dev make test

# --- 2. root: make run installs the app and serves ----------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
serve_until_ready() {
  set -m  # the app gets a process group of its own, ended below
  inside root "GRADIO_SERVER_PORT=$port make run" &
  local app=$! deadline=$(($(date +%s) + 5400))
  set +m
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if chroot "$root" python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/ready', timeout=5)" 2>/dev/null; then
      echo "GET /ready on port $port answered 200"
      chroot "$root" python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$port/ready', timeout=5).read().decode())"
      kill -TERM -- "-$app"
      wait "$app" || true
      return 0
    fi
    kill -0 "$app" 2>/dev/null || { wait "$app"; return 1; }
    sleep 5
  done
  kill -TERM -- "-$app"
  return 1
}
step root-make-run 0 serve_until_ready
step app-only-venv 1 inside root ".venv/bin/python -c 'import pytest'"

# --- 3. root: make test installs the test tools and a browser, then passes ---------------------------
step root-make-test 0 inside root make test ${PYTEST_ARGS:+PYTEST_ARGS="'$PYTEST_ARGS'"}

# --- 4. the user again: the system packages are there now ---------------------------------------------
step user-system-check 0 inside dev scripts/system-deps.sh test

say "summary ($suite, $(nproc) cores; logs in $logs)"
printf '%s\n' "${summary[@]}"
