#!/usr/bin/env bash
# Makes sure Debian's Chromium and a CJK font are installed for the console's browser tests
# (Playwright drives /usr/bin/chromium through executable_path; no browser download). Idempotent.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v chromium >/dev/null 2>&1 || { echo "chromium is not installed" >&2; exit 1; }
echo "browser: $(command -v chromium)"
