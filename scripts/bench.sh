#!/usr/bin/env bash
# Runs every benchmark in bench/ (not the helpers bench/_*.py); each prints one JSON line last. Exits non-zero if any misses its target.
set -uo pipefail
status=0
for script in bench/*.py; do
  case "$(basename "$script")" in _*) continue ;; esac  # shared helpers (bench/_harness.py …), not benches
  echo "== $script"
  out=$(.venv/bin/python "$script") || status=1
  echo "$out"
  echo "$out" | tail -n 1 | .venv/bin/python -c 'import json,sys; sys.exit(0 if json.loads(sys.stdin.read())["pass"] else 1)' || status=1
done
exit $status
