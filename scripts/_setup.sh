# Shared set-up for scripts/run-app and scripts/run-tests: a virtual environment with the
# pinned packages (requirements/constraints.txt), and the system libraries Qt needs on
# Debian 12/13 and Ubuntu 24.04. Sourced, not run.
#
# What is checked is the LIBRARY or program (ldconfig's cache, PATH), never a package name:
# Debian 13 and Ubuntu 24.04 renamed several packages (libglib2.0-0 -> libglib2.0-0t64,
# libcups2 -> libcups2t64, libasound2 -> libasound2t64), so a name check there fails forever.
# Nothing present is installed again, and apt-get update runs only when something is missing.
# As root, what is missing is installed in one apt-get call; otherwise ONE message lists all
# of it with the exact command to run as root, and the script stops (exit 3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GP_OPTOUT_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
CONSTRAINTS="$ROOT/requirements/constraints.txt"

# Each need: "what to look for|Debian package names, newest name first". A what starting
# with lib is a shared library (soname); anything else is a program on PATH.
# Qt itself (offscreen and every platform), and printing (Qt finds printers through CUPS).
QT_NEEDS=(
  "libGL.so.1|libgl1" "libEGL.so.1|libegl1" "libfontconfig.so.1|libfontconfig1"
  "libfreetype.so.6|libfreetype6" "libxkbcommon.so.0|libxkbcommon0" "libdbus-1.so.3|libdbus-1-3"
  "libglib-2.0.so.0|libglib2.0-0t64 libglib2.0-0" "libcups.so.2|libcups2t64 libcups2"
)
# A real or virtual X display (Qt's xcb platform plugin).
DISPLAY_NEEDS=(
  "libxcb-cursor.so.0|libxcb-cursor0" "libxcb-icccm.so.4|libxcb-icccm4" "libxcb-keysyms.so.1|libxcb-keysyms1"
  "libxcb-shape.so.0|libxcb-shape0" "libxcb-randr.so.0|libxcb-randr0" "libxcb-render-util.so.0|libxcb-render-util0"
  "libxcb-image.so.0|libxcb-image0" "libxcb-xinerama.so.0|libxcb-xinerama0" "libxkbcommon-x11.so.0|libxkbcommon-x11-0"
  "libX11-xcb.so.1|libx11-xcb1"
)
XVFB_NEEDS=("xvfb-run|xvfb" "xauth|xauth")
TOOL_NEEDS=("pdftotext|poppler-utils")
# The server-mode tests: PostgreSQL's server programs (initdb, pg_ctl, postgres), which Debian
# keeps under /usr/lib/postgresql/<version>/bin, off PATH. Any version the distribution ships.
PG_NEEDS=("/usr/lib/postgresql/*/bin/initdb|postgresql")
# The printing test: a real CUPS scheduler, a PDF printer, and OCR to read the printed
# bitmaps back (installed only when root).
CUPS_NEEDS=("cupsd|cups" "lpadmin|cups-client" "/usr/lib/cups/backend/cups-pdf|printer-driver-cups-pdf"
            "tesseract|tesseract-ocr")

_ldcache=""
_have() {
  local what="$1"
  case "$what" in
    /*) compgen -G "$what" >/dev/null ;;  # a path, or a pattern such as a version folder
    lib*)
      if [ -z "$_ldcache" ]; then
        local ldconfig
        ldconfig="$(command -v ldconfig || echo /sbin/ldconfig)"
        _ldcache="$("$ldconfig" -p 2>/dev/null || true)"
      fi
      awk -v lib="$what" '$1 == lib { found = 1 } END { exit !found }' <<<"$_ldcache"
      ;;
    *) command -v "$what" >/dev/null 2>&1 || [ -x "/usr/sbin/$what" ] || [ -x "/sbin/$what" ] ;;
  esac
}

_pick_name() {
  # The first of the alternative names this system's apt knows as a real package; with no
  # package lists yet, the first (newest) name for Debian 13+/Ubuntu 24.04+, else the last.
  local name
  for name in "$@"; do
    apt-cache show --no-all-versions "$name" 2>/dev/null | grep -q '^Package:' && { echo "$name"; return; }
  done
  if [ "$#" -gt 1 ] && ! _t64_release; then echo "${!#}"; else echo "$1"; fi
}

_t64_release() {
  local ID="" VERSION_ID=""
  # shellcheck disable=SC1091
  [ -r /etc/os-release ] && . /etc/os-release
  case "$ID" in
    debian) [ "${VERSION_ID%%.*}" -ge 13 ] 2>/dev/null || [ -z "$VERSION_ID" ] ;;  # testing has no VERSION_ID
    ubuntu) [ "${VERSION_ID%%.*}" -ge 24 ] 2>/dev/null ;;
    *) return 0 ;;
  esac
}

MISSING=()
need_for_both_commands() {
  # A user without root gets ONE message covering both of the README's commands
  # (scripts/run-app and scripts/run-tests), not one round each.
  [ "$(id -u)" -eq 0 ] && return 0
  need "${QT_NEEDS[@]}" "${TOOL_NEEDS[@]}"
  if [ -z "${WAYLAND_DISPLAY:-}" ]; then
    need "${DISPLAY_NEEDS[@]}"
    [ -n "${DISPLAY:-}" ] || need "${XVFB_NEEDS[@]}"
  fi
}

need() {
  # $@: needs ("what|names"). Adds the package for each one not present to MISSING.
  local entry what names
  for entry in "$@"; do
    what="${entry%%|*}"; names="${entry#*|}"
    _have "$what" && continue
    # shellcheck disable=SC2086
    MISSING+=("$(_pick_name $names)")
  done
}

need_python() {
  if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "gp-optout-desktop needs Python 3.11, 3.12 or 3.13; $PY here is $("$PY" -V 2>&1 || echo missing)." >&2
    echo "Supported: Debian 12 or 13, Ubuntu 24.04 (Ubuntu 22.04 ships Python 3.10: upgrade to 24.04)," >&2
    echo "or point PYTHON at a newer interpreter: PYTHON=/usr/bin/python3.11 $0" >&2
    exit 3
  fi
  if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info < (3, 14) else 1)'; then
    echo "Note: Python $("$PY" -V 2>&1 | cut -d' ' -f2) is newer than the tested 3.11-3.13." >&2
  fi
  # Debian and Ubuntu split venv's pip bootstrap into python3-venv (python3.X-venv).
  "$PY" -c 'import venv, ensurepip' 2>/dev/null || MISSING+=("python3-venv")
}

install_missing() {
  # Installs everything collected by need/need_python in one go, or says how to, once.
  [ "${#MISSING[@]}" -eq 0 ] && return 0
  local list
  list="$(printf '%s\n' "${MISSING[@]}" | awk '!seen[$0]++' | tr '\n' ' ')"
  list="${list% }"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "Missing (Debian package names): $list. Install them with your package manager, then run $0 again." >&2
    exit 3
  fi
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing system packages: $list" >&2
    export DEBIAN_FRONTEND=noninteractive
    # apt's chatter (debconf notes) only when something fails.
    local log
    log="$(mktemp)"
    # shellcheck disable=SC2086
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $list; } >"$log" 2>&1; then
      cat "$log" >&2; rm -f "$log"
      echo "Installing $list failed (above)." >&2
      exit 3
    fi
    rm -f "$log"
    _ldcache=""
    MISSING=()
    return 0
  fi
  local cmd="apt-get update && apt-get install -y --no-install-recommends $list"
  if command -v sudo >/dev/null 2>&1 && id -nG | grep -qwE 'sudo|admin|wheel'; then
    cmd="sudo sh -c '$cmd'"
  else
    cmd="su -c '$cmd'"   # a minimal Debian has no sudo: root's password
  fi
  {
    echo "These system packages are missing: $list"
    echo "Run this once as root (it covers both scripts/run-app and scripts/run-tests), then run $0 again:"
    echo "  $cmd"
  } >&2
  exit 3
}

ensure_venv() {
  # $1: extras ("" or "test"). When pyproject.toml or the constraints change the venv is
  # rebuilt from scratch: pip does not remove packages a new pin no longer wants, and Qt's
  # wheels share one PySide6 folder, so a left-over one can break the import.
  local extras="$1" hash stamp
  hash="$(cat "$ROOT/pyproject.toml" "$CONSTRAINTS" | sha256sum | cut -c1-16)"
  if [ -d "$VENV" ] && ! ls "$VENV"/.installed-"$hash"-* >/dev/null 2>&1; then
    rm -rf "$VENV"
  fi
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  stamp="$VENV/.installed-$hash-${extras:-base}"
  if [ ! -f "$stamp" ]; then
    echo "Installing the pinned Python packages into $VENV (once)..." >&2
    # Every package, and the build back-end, at the version the tests ran with.
    export PIP_CONSTRAINT="$CONSTRAINTS" PIP_DISABLE_PIP_VERSION_CHECK=1
    if [ -n "$extras" ]; then
      "$VENV/bin/python" -m pip install -q -e "$ROOT[$extras]"
    else
      "$VENV/bin/python" -m pip install -q -e "$ROOT"
    fi
    touch "$stamp"
  fi
}
