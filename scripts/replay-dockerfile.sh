#!/usr/bin/env bash
# Proves the Dockerfile where no container engine runs: replays its steps in a chroot (as root before
# its USER, as uid 1000 after), starts its CMD as uid 1000, runs its HEALTHCHECK until /ready answers,
# checks the app wrote its workspace as that user, then starts it again with the workspace on a missing
# and on a read-only /data (a clear warning, no traceback). Prints each step with its time.
#
#   sudo scripts/replay-dockerfile.sh [--build-arg TORCH=cuda] [ROOT]
#
# The base image (python:3.11-slim-bookworm) cannot be pulled without an engine, so the root stands in
# for it: Debian 12 (bookworm, the image's release) by debootstrap with Debian's python3 (3.11.2, in
# /usr/bin, not the image's newer 3.11 in /usr/local), python3-pip (23.0) and python-is-python3, and
# without Debian's "externally managed" marker (the image's own Python has none, so `pip install
# --user` works there). Same apt sources, same system package names, same uid 1000 user.
# The parser and the replay are scripts/replay_dockerfile.py (only the instructions this Dockerfile
# uses are supported). The default TORCH=cpu needs PyTorch's own wheel index; where only the package
# index is reachable, pass --build-arg TORCH=cuda.
# Environment: MIRROR (http://deb.debian.org/debian), DEB_CACHE (a folder for debootstrap's .debs),
# KEEP=1 (keep ROOT; an existing ROOT is reused), TIMEOUT (seconds for the first /ready, 900).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "replay-dockerfile: run as root (debootstrap, mount, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "replay-dockerfile: apt-get install debootstrap" >&2; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)
build_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --build-arg) build_args+=(--build-arg "$2"); shift 2 ;;
    --build-arg=*) build_args+=(--build-arg "${1#*=}"); shift ;;
    *) break ;;
  esac
done
mirror=${MIRROR:-http://deb.debian.org/debian}
root=${1:-$(mktemp -d /tmp/sightline-image.XXXXXX)}
logs=$root.logs
mkdir -p "$root" "$logs"

unmount_all() {
  for m in dev/shm dev/pts dev sys proc; do
    mountpoint -q "$root/$m" && umount -l "$root/$m"
  done
  if grep -q " $root/" /proc/mounts; then
    echo "replay-dockerfile: something is still mounted under $root: left in place" >&2
  elif [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$root"
  fi
}
trap unmount_all EXIT

# --- the base image's stand-in -------------------------------------------------------------------------
if [ -x "$root/usr/bin/python3" ]; then
  echo "=== reusing the Debian root in $root"
else
  cache=()
  [ -n "${DEB_CACHE:-}" ] && mkdir -p "$DEB_CACHE" && cache=(--cache-dir="$DEB_CACHE")
  started=$(date +%s)
  echo "=== debootstrap bookworm (python3, python3-pip, python-is-python3, ca-certificates)"
  debootstrap --variant=minbase --include=python3,python3-pip,python-is-python3,ca-certificates \
    "${cache[@]}" bookworm "$root" "$mirror" >"$logs/debootstrap.log" 2>&1 \
    || { tail -n 20 "$logs/debootstrap.log"; exit 1; }
  echo "--- $(($(date +%s) - started))s"
fi
rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
# this network, not the image: its DNS, and the local CAs its TLS proxy needs (when it has any)
cp /etc/resolv.conf "$root/etc/resolv.conf"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null
fi
mount -t proc proc "$root/proc"
mount --bind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount --bind /dev/shm "$root/dev/shm"
echo "=== the base: $(chroot "$root" sh -c '. /etc/os-release; echo "$PRETTY_NAME"'), $(chroot "$root" python -V)," \
  "pip $(chroot "$root" pip --version | cut -d' ' -f2), $(chroot "$root" dpkg-query -W -f '.\n' | wc -l) packages"

python3 "$repo/scripts/replay_dockerfile.py" "$root" --context "$repo" --logs "$logs" \
  --timeout "${TIMEOUT:-900}" "${build_args[@]}"
