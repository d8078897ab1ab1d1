#!/usr/bin/env bash
# The WeChat mini-program's tests (docs/miniprogram.md): makes sure Node >= 18 and npm are there
# (Debian's nodejs and npm when missing), writes the API contract (the OpenAPI document and error
# codes, with the project's venv) to var/miniprogram/contract.json, installs the pinned Node
# dependencies with `npm ci` from miniprogram/package-lock.json and runs jest. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'
}
if ! node_ok; then
  echo "installing nodejs npm"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
node_ok || { echo "the mini-program's tests need Node >= 18 with npm (found: $(node -v 2>/dev/null || echo none))" >&2; exit 1; }
echo "node: $(node -v), npm: $(npm -v 2>/dev/null)"

[ -x .venv/bin/python ] || PYTHON="${PYTHON:-python3}" bash scripts/venv.sh
CONTRACT="$PWD/var/miniprogram/contract.json"
.venv/bin/python tests/miniprogram/test_contract.py --write "$CONTRACT"

cd miniprogram
npm ci --no-audit --no-fund --loglevel=error
ZHCG_CONTRACT_JSON="$CONTRACT" node node_modules/jest/bin/jest.js --ci
