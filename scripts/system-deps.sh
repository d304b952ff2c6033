#!/bin/sh
# The system packages sightline needs beyond python3 and make, for `make run` (app) or `make test`
# (test: also a Chromium). Checks what is there; as root installs what is missing with apt-get, as a
# user prints the one command to run and exits 1. The Makefile calls it before it builds .venv.
#
#   scripts/system-deps.sh app|test [PYTHON]    # before .venv: venv support, OpenCV's libraries
#   scripts/system-deps.sh browser PYTHON        # after .venv, when no Chromium was found
set -eu
group=${1:?usage: system-deps.sh app|test|browser [PYTHON]}
python=${2:-python3}
export DEBIAN_FRONTEND=noninteractive

ldconfig_cmd=$(command -v ldconfig || echo /sbin/ldconfig)
has_lib() { "$ldconfig_cmd" -p 2>/dev/null | grep -q "[[:space:]]$1 "; }
os_is_ubuntu() { grep -qsiE '^(ID|ID_LIKE)=.*ubuntu' /etc/os-release; }
# a Chromium the browser tests can drive; Ubuntu's apt chromium only hands over to the snap
system_chromium() { [ -x /usr/bin/chromium ] && ! grep -qs 'snap' /usr/bin/chromium; }
playwright_chromium() { ls -d "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-*/chrome-linux*/chrome >/dev/null 2>&1; }

missing=""
need() { missing="$missing $1"; }

install_or_stop() {  # $1: why; the rest: apt packages
  why=$1; shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "system-deps: installing $*  ($why)"
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "$@"
  elif command -v apt-get >/dev/null; then
    echo "system-deps: missing system packages ($why). Run this once, then make again:" >&2
    echo "    sudo apt-get install -y --no-install-recommends $*" >&2
    exit 1
  else
    echo "system-deps: missing ($why): $*; install their equivalents with your package manager, then make again" >&2
    exit 1
  fi
}

case $group in
app | test)
  # python3 -m venv needs ensurepip, which Debian and Ubuntu ship apart as pythonX.Y-venv
  if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    need "$("$python" -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])')"
  fi
  # OpenCV (pulled by trackers) links libGL, glib and xcb: `import sightline` fails without them
  has_lib libGL.so.1 || need libgl1
  has_lib libglib-2.0.so.0 || need libglib2.0-0
  has_lib libxcb.so.1 || need libxcb1
  if [ "$group" = test ] && ! os_is_ubuntu && ! system_chromium && ! playwright_chromium; then
    need chromium  # Debian's; on Ubuntu the browser step below fetches Playwright's instead
  fi
  # shellcheck disable=SC2086
  [ -z "$missing" ] || install_or_stop "for make $group" $missing
  ;;
browser)
  if ! os_is_ubuntu; then
    install_or_stop "a Chromium for the browser tests" chromium
  elif [ "$(id -u)" = 0 ]; then
    "$python" -m playwright install --with-deps chromium
  else
    "$python" -m playwright install chromium  # into the user's cache; its libraries need root
    browser=$(ls -d "${PLAYWRIGHT_BROWSERS_PATH:-$HOME/.cache/ms-playwright}"/chromium-*/chrome-linux*/chrome | tail -n 1)
    if ldd "$browser" | grep -q 'not found'; then
      echo "system-deps: Playwright's Chromium lacks system libraries. Run this once, then make again:" >&2
      echo "    sudo $python -m playwright install-deps chromium" >&2
      exit 1
    fi
  fi
  ;;
*)
  echo "usage: system-deps.sh app|test|browser [PYTHON]" >&2
  exit 2
  ;;
esac
