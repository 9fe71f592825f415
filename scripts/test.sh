#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what it needs, then runs every test (npm test).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm test
