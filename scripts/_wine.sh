# Shared by scripts/build-windows and scripts/smoke-windows: wine on Debian, a wine prefix,
# and the two build/test-only stand-in DLLs. Sourced, not run.
# See installers/README.md and /work/shared/windows-build.md for why each step is here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WIN_DEBS="wine64 nsis gcc-mingw-w64-x86-64-win32"
STUB_DLLS="icuuc bcryptprimitives"
# Work files (2.5 GB) live OUTSIDE the source tree: a wine prefix holds dosdevices/z: -> /, and
# anything that walks the tree following links (setuptools' package discovery during
# `pip install -e`, for one) would then walk the whole filesystem. One folder per checkout.
WIN_WORK_BASE="${GP_WIN_WORK_BASE:-${XDG_CACHE_HOME:-$HOME/.cache}/gp-optout-desktop-build/$(printf %s "$ROOT" | sha256sum | cut -c1-12)}"

say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf '[%s] FAILED: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; exit 1; }

find_wine() {
  local w
  for w in /usr/lib/wine/wine64 "$(command -v wine64 2>/dev/null || true)" "$(command -v wine 2>/dev/null || true)"; do
    [ -n "$w" ] && [ -x "$w" ] && { echo "$w"; return 0; }
  done
  return 1
}

ensure_win_tools() {
  # Checks the programs, not package names; installs them when root, else one message.
  local need=0
  find_wine >/dev/null || need=1
  command -v makensis >/dev/null || need=1
  command -v x86_64-w64-mingw32-gcc >/dev/null || need=1
  [ "$need" -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "Installing $WIN_DEBS"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $WIN_DEBS >/dev/null
  else
    echo "The Windows build needs wine64, NSIS and the mingw-w64 compiler. Run this once as root:" >&2
    echo "  apt-get install -y --no-install-recommends $WIN_DEBS" >&2
    exit 3
  fi
}

wine_env() {
  # $1: prefix folder. Quiet wine, no Mono/Gecko download prompts, 64-bit only.
  WINE="$(find_wine)"
  WINESERVER="$(dirname "$WINE")/wineserver"
  export WINEPREFIX="$1" WINEARCH=win64 WINEDEBUG="${WINEDEBUG:--all}" WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY="${DISPLAY:-}"
  export WINE WINESERVER
}

winpath() { # a Linux path as wine sees it (Z: is /)
  local p; p="$(readlink -f "$1")"; printf 'Z:%s' "${p//\//\\}"
}

wrun() {
  # $1: timeout in seconds; the rest: the wine command line. Output is piped, never redirected
  # to a file: CPython under wine dies in init_sys_streams on a plain-file stdout.
  local t="$1"; shift
  timeout --kill-after=10 "$t" "$WINE" "$@" </dev/null 2>&1 | cat
  return "${PIPESTATUS[0]}"
}

wine_stop() { [ -n "${WINEPREFIX:-}" ] && timeout 30 "$WINESERVER" -k 2>/dev/null || true; }

new_prefix() {
  # $1: prefix folder (made fresh). Retries once: the first wineboot can time out on a busy machine.
  local prefix="$1" try
  for try in 1 2; do
    rm -rf "$prefix"
    mkdir -p "$(dirname "$prefix")"
    wine_env "$prefix"
    if timeout 240 "$WINE" wineboot -i </dev/null >/dev/null 2>&1 && timeout 120 "$WINESERVER" -w \
       && [ -d "$prefix/drive_c/windows/system32" ]; then
      return 0
    fi
    say "wineboot did not finish (try $try of 2); starting again with a fresh prefix"
    wine_stop
  done
  die "could not create the wine prefix $prefix"
}

install_stubs() {
  # $1: prefix; $2: a folder for the compiled DLLs. Build/test only: never in the bundle.
  local prefix="$1" out="$2" name
  mkdir -p "$out"
  for name in $STUB_DLLS; do
    local extra=""
    [ "$name" = bcryptprimitives ] && extra="-lbcrypt"
    # shellcheck disable=SC2086
    x86_64-w64-mingw32-gcc -O2 -Wall -shared -o "$out/$name.dll" "$ROOT/installers/windows/wine/${name}_stub.c" $extra
    cp "$out/$name.dll" "$prefix/drive_c/windows/system32/$name.dll"
  done
}

check_no_stubs() {
  # $1: a folder that must not contain the stand-in DLLs.
  local found
  found="$(find "$1" \( -iname 'icuuc*.dll' -o -iname 'icu*.dll' -o -iname 'bcryptprimitives*' \) -print)"
  [ -z "$found" ] || die "a build-only stand-in DLL reached the bundle: $found"
}

project_version() {
  python3 - "$ROOT/pyproject.toml" <<'PY'
import sys, tomllib
print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])
PY
}
