#!/usr/bin/env bash
# Installs everything wsl2proxy's tests need on a fresh Debian/Ubuntu machine
# that has only Node and npm, then runs every test under Deno and under Bun.
# This is the README's test command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== deno test =="
npx deno test -A --quiet src/ tests/
echo "== bun test =="
npx bun test --timeout 120000 src/ tests/
