#!/usr/bin/env bash
# Installs the system packages (wine, mingw-w64, socat, openssh-client, curl,
# gcc and hyperfine for the benchmarks)
# and the npm dev dependencies (deno, bun, ...). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wine >/dev/null || need+=(wine wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
command -v socat >/dev/null || need+=(socat)
command -v ssh-add >/dev/null || need+=(openssh-client)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v gcc >/dev/null || need+=(gcc libc6-dev) # bench: the C echo server and load client
command -v hyperfine >/dev/null || need+=(hyperfine) # bench: wall time of `start`
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "== apt-get install ${need[*]} =="
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== npm ci =="
npm ci --no-audit --no-fund --loglevel=error
