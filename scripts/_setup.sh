# Shared set-up for scripts/run-app and scripts/run-tests: a virtual environment
# with the pinned packages, and Qt's system libraries on Debian/Ubuntu.
# Sourced, not run. Idempotent: a second run installs nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GP_OPTOUT_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

QT_DEBS="libgl1 libegl1 libfontconfig1 libxkbcommon0 libdbus-1-3 libglib2.0-0"
XVFB_DEBS="xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxkbcommon-x11-0"
TOOL_DEBS="poppler-utils"

missing_debs() {
  local missing=()
  command -v dpkg-query >/dev/null 2>&1 || return 0
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  echo "${missing[@]:-}"
}

ensure_debs() {
  # $@: package names. Installs what is missing when root; otherwise prints the line and stops.
  local missing
  missing="$(missing_debs "$@")"
  [ -z "${missing// /}" ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "Qt needs these system libraries (Debian names): $missing. Install them with your package manager." >&2
    exit 3
  fi
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing system packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "Qt needs system libraries that are missing. Run this once, then try again:" >&2
    echo "  sudo apt-get install -y $missing" >&2
    exit 3
  fi
}

ensure_python() {
  if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "Python 3.11 or newer is needed ($PY is $("$PY" -V 2>&1))." >&2
    exit 3
  fi
  if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    ensure_debs python3-venv
  fi
}

ensure_venv() {
  # $1: extras ("" or "test"). When pyproject.toml changes the venv is rebuilt from
  # scratch: pip does not remove packages a new pin no longer wants, and Qt's wheels
  # share one PySide6 folder, so a left-over one can break the import.
  local extras="$1" hash stamp
  ensure_python
  hash="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
  if [ -d "$VENV" ] && ! ls "$VENV"/.installed-"$hash"-* >/dev/null 2>&1; then
    rm -rf "$VENV"
  fi
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  stamp="$VENV/.installed-$hash-${extras:-base}"
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    if [ -n "$extras" ]; then
      "$VENV/bin/python" -m pip install -q -e "$ROOT[$extras]"
    else
      "$VENV/bin/python" -m pip install -q -e "$ROOT"
    fi
    touch "$stamp"
  fi
}
