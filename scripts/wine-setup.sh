#!/usr/bin/env bash
# Prepares a project-local Wine prefix in which Bun-built Windows .exe files run,
# and prints its path (one line on stdout; everything else goes to stderr).
#
#   prefix=$(bash scripts/wine-setup.sh)
#   WINEPREFIX=$prefix WINEDEBUG=-all DISPLAY= wine app.exe
#
# Steps, each skipped when already done (a rerun takes a few milliseconds):
#   1. build scripts/wine/bcryptprimitives.c into .cache/wine-dll/ with mingw-w64
#      (Wine 8 has no bcryptprimitives.dll, and Bun's Windows binary imports
#      ProcessPrng from it);
#   2. create the prefix with `wineboot -i` (about 8 s, once);
#   3. set the null graphics driver, so headless programs can create windows;
#   4. copy the DLL into the prefix's system32.
#
# The prefix is $WSL2PROXY_WINEPREFIX, default <repo>/.cache/wine. A WINEPREFIX
# already in the environment is deliberately ignored, so ~/.wine is never touched.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${WSL2PROXY_WINEPREFIX:-$repo/.cache/wine}"
src="$repo/scripts/wine/bcryptprimitives.c"
dll="$repo/.cache/wine-dll/bcryptprimitives.dll"
log="$repo/.cache/wine-setup.log"

die() {
  echo "wine-setup: $*" >&2
  exit 1
}

wine=""
for w in wine wine64; do
  if command -v "$w" >/dev/null; then
    wine="$w"
    break
  fi
done
[ -n "$wine" ] || die "wine is not installed (run scripts/install-deps.sh, or apt-get install wine wine64)"

# Quiet, headless, and no Mono/Gecko install prompts.
export WINEPREFIX="$prefix" WINEDEBUG=-all DISPLAY= WINEDLLOVERRIDES="mscoree,mshtml="
unset WAYLAND_DISPLAY

# 1. The DLL, rebuilt when its source changes.
if [ ! -f "$dll" ] || [ "$src" -nt "$dll" ]; then
  command -v x86_64-w64-mingw32-gcc >/dev/null ||
    die "x86_64-w64-mingw32-gcc is missing (apt-get install gcc-mingw-w64-x86-64)"
  mkdir -p "$(dirname "$dll")"
  x86_64-w64-mingw32-gcc -shared -O2 -s -o "$dll.tmp" "$src" -ladvapi32
  mv "$dll.tmp" "$dll"
  echo "wine-setup: built $dll" >&2
fi

# 2. The prefix. The stamp is written last, so an interrupted init is redone.
stamp="$prefix/.wsl2proxy-ready"
if [ ! -f "$stamp" ]; then
  mkdir -p "$(dirname "$log")"
  echo "wine-setup: creating Wine prefix $prefix (once, ~10 s)" >&2
  # wineboot leaves Wine's system processes running for a few seconds; they
  # inherit wineboot's stdout/stderr, so those go to a log file rather than
  # to whoever captures ours (who would otherwise wait for them to exit).
  if ! "$wine" wineboot -i >"$log" 2>&1 </dev/null; then
    cat "$log" >&2
    die "wineboot -i failed (log: $log)"
  fi
  # Let the server write the registry and exit before the prefix is declared ready.
  wineserver -w >>"$log" 2>&1 </dev/null || true
  [ -d "$prefix/drive_c/windows/system32" ] || die "wineboot made no system32 in $prefix (log: $log)"
  touch "$stamp"
fi

# 3. Headless windows (the Pageant stand-in owns one): the null graphics
# driver. It is read when Wine's desktop process starts, so it is set here,
# before any test runs a program, and the server is let go before anyone else
# starts one.
graphics="$prefix/.wsl2proxy-graphics-null"
if [ ! -f "$graphics" ]; then
  "$wine" reg add 'HKCU\Software\Wine\Drivers' /v Graphics /d null /f >>"$log" 2>&1 </dev/null ||
    die "wine reg add (the null graphics driver) failed (log: $log)"
  wineserver -w >>"$log" 2>&1 </dev/null || true
  touch "$graphics"
fi

# 4. The DLL in system32, where every .exe in the prefix finds it.
target="$prefix/drive_c/windows/system32/bcryptprimitives.dll"
if ! cmp -s "$dll" "$target"; then
  cp "$dll" "$target.tmp"
  mv "$target.tmp" "$target"
  echo "wine-setup: installed $target" >&2
fi

echo "$prefix"
