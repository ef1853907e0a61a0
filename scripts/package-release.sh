#!/usr/bin/env bash
# Packs the binaries in dist/ for download, beside the raw ones, and rewrites
# dist/SHA256SUMS over every wsl2proxy* file there (raw and packed):
#   wsl2proxy[-deno]-linux-<cpu>           -> .tar.xz (keeps the executable bit; xz with its x86
#                                             filter is the smallest, see docs/DEVELOPMENT.md)
#   wsl2proxy[-deno]-windows-<cpu>.exe     -> .zip (what Windows opens without extra tools)
# Each archive holds the one file under its dist/ name. Run after scripts/build.ts
# (CI: .github/workflows/ci.yml, job build). Warns (GitHub annotation) about an
# archive over 80 MB or a Linux binary over 160 MB: the download-size targets.
set -euo pipefail
cd "$(dirname "$0")/../dist"

max_archive=$((80 * 1000 * 1000))
max_linux=$((160 * 1000 * 1000))
# Reproducible archives: fixed owner, order and time (the commit's, when in git).
stamp="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"

warn() { echo "::warning::$*" >&2; }
size() { stat -c %s "$1"; }

shopt -s nullglob
# One xz per binary, all at once: xz -9e is single-threaded on a file this size.
pids=()
for bin in wsl2proxy-linux-* wsl2proxy-deno-linux-*; do
  case "$bin" in *.tar.xz | *.tmp-*) continue ;; esac
  [ "$(size "$bin")" -le "$max_linux" ] || warn "$bin is $(size "$bin") bytes, over 160 MB"
  filter=--x86
  case "$bin" in *arm64*) filter=--arm64 ;; esac
  (
    tar --owner=0 --group=0 --numeric-owner --mtime="@$stamp" -cf - "$bin" |
      xz "$filter" --lzma2=preset=9e >"$bin.tar.xz.tmp-$$"
    mv "$bin.tar.xz.tmp-$$" "$bin.tar.xz"
  ) &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid"; done
for exe in wsl2proxy-windows-*.exe wsl2proxy-deno-windows-*.exe; do
  zip="${exe%.exe}.zip"
  rm -f "$zip.tmp-$$"
  zip -q -9 -X "$zip.tmp-$$" "$exe"
  mv "$zip.tmp-$$" "$zip"
done
for archive in wsl2proxy*.tar.xz wsl2proxy*.zip; do
  [ "$(size "$archive")" -le "$max_archive" ] || warn "$archive is $(size "$archive") bytes, over 80 MB"
done

files=()
for f in wsl2proxy*; do
  case "$f" in *.tmp-*) ;; *) files+=("$f") ;; esac
done
sha256sum "${files[@]}" >"SHA256SUMS.tmp-$$"
mv "SHA256SUMS.tmp-$$" SHA256SUMS
for f in "${files[@]}"; do printf '%-36s %6.1f MB\n' "$f" "$(size "$f" | awk '{print $1 / 1e6}')"; done
