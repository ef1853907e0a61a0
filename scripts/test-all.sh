#!/usr/bin/env bash
# Installs everything wsl2proxy's tests need on a fresh Debian/Ubuntu machine
# that has only Node and npm, then runs every test under Deno and under Bun.
# This is the README's test command and what .ci/run calls.
#
# Steps:
#   1. install-deps.sh: apt packages (wine, mingw-w64, socat, openssh-client,
#      curl) and `npm ci` (quiet unless it fails);
#   2. build what the tests use, into dist/ (scripts/build.ts: the Bun build
#      for Linux with its Windows agent inside, the Windows .exe, the bundle
#      for `deno run <url>`); cached by source hash, so ~0.5 s when nothing
#      changed;
#   3. the Wine prefix (wine-setup.sh; ~10 s once, then milliseconds);
#   4. every test under `deno test`, then under `bun test`;
#   5. the compiled Linux binary instead of the sources as CLI, daemon and
#      agent: the ssh-agent round trip, and the Windows agent under Wine
#      started by that binary, under both runners (tests/dist/ tests that
#      binary already in step 4).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step() {
  echo "== $* ($((SECONDS - started)) s) =="
}

# Every runner's output also goes to this log, so the end can print one
# closing line with the totals: "N passed, N failed".
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {
  "$@" 2>&1 | tee -a "$log"
}

step "install dependencies"
bash scripts/install-deps.sh

case "$(uname -m)" in
  aarch64 | arm64) arch=arm64 ;;
  *) arch=x64 ;;
esac
bin="$PWD/dist/wsl2proxy-linux-$arch"

step "build (cached)"
# Progress goes to stdout with the rest: stderr stays empty on a run that passes.
npx deno run -A scripts/build.ts bundle "bun=linux-$arch,windows-x64" 2>&1

step "wine setup"
bash scripts/wine-setup.sh 2>&1

step "deno test"
run npx deno test -A --quiet src/ tests/

step "bun test"
run npx bun test --timeout 120000 src/ tests/

# The compiled binary as the CLI, the daemon and the agent.
compiled=(tests/bridge_ssh.test.ts tests/wine/agent_wine.test.ts tests/resets.test.ts tests/fd_limit.test.ts)
step "compiled $bin: deno test"
"$bin" version
WSL2PROXY_TEST_BIN="$bin" run npx deno test -A --quiet "${compiled[@]}"

step "compiled $bin: bun test"
WSL2PROXY_TEST_BIN="$bin" run npx bun test --timeout 120000 "${compiled[@]}"

step "all tests passed"
# deno: "ok | 71 passed (383 steps) | 0 failed"; bun: " 382 pass" / " 0 fail".
clean() { sed 's/\x1b\[[0-9;]*m//g' "$log"; }
passed=$(clean | sed -nE 's/.*\| ([0-9]+) passed \(([0-9]+) steps?\).*/\2/p; s/.*\| ([0-9]+) passed \|.*/\1/p; s/^ *([0-9]+) pass$/\1/p' | awk '{s+=$1} END {print s+0}')
failed=$(clean | sed -nE 's/.*\| ([0-9]+) failed.*/\1/p; s/^ *([0-9]+) fail$/\1/p' | awk '{s+=$1} END {print s+0}')
echo "${passed} passed, ${failed} failed"
