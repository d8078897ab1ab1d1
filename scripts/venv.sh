#!/usr/bin/env bash
# Creates .venv with a Python >= 3.11 and installs zhcg with its dev tools. Idempotent; a half-made
# .venv (e.g. created without ensurepip) is removed and made again.
set -euo pipefail
PYTHON=${PYTHON:-python3}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "zhcg needs Python >= 3.11 ($PYTHON is $("$PYTHON" --version 2>&1 || echo missing)); set PYTHON=..." >&2
  exit 1
fi
if [ ! -x .venv/bin/pip ]; then
  rm -rf .venv
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    if command -v apt-get >/dev/null 2>&1; then
      minor=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      echo "installing python${minor}-venv"
      $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${minor}-venv" >/dev/null
    fi
    "$PYTHON" -m venv .venv || { rm -rf .venv; echo "could not create .venv" >&2; exit 1; }
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
