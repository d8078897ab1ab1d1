#!/usr/bin/env bash
# Restore test: restores a pg_dump (custom format, `pg_dump -Fc`) into a scratch database on a PostgreSQL
# server and checks it with zhcg's own commands (docs/deploy.md "Backups and the restore test").
#
#   scripts/restore-test.sh DUMP_FILE      restore this backup (e.g. last night's) and check it
#   scripts/restore-test.sh --self-test    build a small database, dump it, restore it and compare every
#                                          table's row count with the original (run by `make deploy-check`)
#
# Checks: the archive lists table data; pg_restore succeeds with --exit-on-error; `zhcg migrate` brings the
# restored schema to this release's head (a dump of an older release is upgraded, as a real recovery
# would be); the schema is then at head; `zhcg calendar`, `zhcg open311 list` and `zhcg operators list`
# read the restored tables; the row count of every table is printed (and, in the self-test, compared).
#
# The zhcg commands run with a clean environment (only ZHCG_DB__URL of the scratch database, development
# mode): a restore test never reaches the live Redis, SMS gateway or photo store. The scratch databases
# are dropped at the end, also on failure.
#
# Environment:
#   ZHCG_RESTORE_PG_URL  libpq URL of a role that may create databases on the scratch server
#                        (default postgresql://postgres@127.0.0.1:5432/postgres, as in `make test`)
#   ZHCG_RESTORE_ZHCG    the zhcg command (default: .venv/bin/zhcg of this checkout)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ADMIN_URL=${ZHCG_RESTORE_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
ZHCG=${ZHCG_RESTORE_ZHCG:-$ROOT/.venv/bin/zhcg}
PYTHON=$(dirname "$ZHCG")/python
SUFFIX="$$_$(date +%s)"
SCRATCH="zhcg_restore_test_$SUFFIX"
SOURCE=""
WORK=$(mktemp -d)

say() { printf 'restore-test: %s\n' "$*"; }
fail() { printf 'restore-test: FAILED: %s\n' "$*" >&2; exit 1; }
db_url() { printf '%s/%s' "${ADMIN_URL%/*}" "$1"; }   # libpq URL of another database on the server
sa_url() { db_url "$1" | sed 's#^postgresql://#postgresql+psycopg://#; s#^postgres://#postgresql+psycopg://#'; }
psql_admin() { psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -qtAX "$@"; }
zhcg_on() {  # zhcg_on DB ARGS…: zhcg against one database, nothing else of this machine's settings
  local db=$1; shift
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" LANG=C.UTF-8 ZHCG_ENVIRONMENT=development \
    ZHCG_DB__URL="$(sa_url "$db")" ZHCG_APP__LOG_LEVEL=WARNING "$ZHCG" "$@"
}
counts() {  # counts DB: "table rows" for every table of the public schema, sorted
  local db=$1 table
  for table in $(psql "$(db_url "$db")" -qtAX -c \
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"); do
    printf '%s %s\n' "$table" "$(psql "$(db_url "$db")" -qtAX -c "SELECT count(*) FROM \"$table\"")"
  done
}
cleanup() {
  local db
  for db in "$SCRATCH" $SOURCE; do
    psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in psql pg_dump pg_restore; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (postgresql-client)"
done
[ -x "$ZHCG" ] || fail "$ZHCG not found (set ZHCG_RESTORE_ZHCG)"
psql_admin -c "SELECT 1" >/dev/null || fail "cannot connect to $ADMIN_URL"

restore_and_check() {  # restore_and_check DUMP: restores into $SCRATCH and checks it
  local dump=$1 entries head revision year total
  entries=$(pg_restore --list "$dump" | grep -c " TABLE DATA " || true)
  [ "$entries" -gt 0 ] || fail "$dump lists no table data (not a pg_dump -Fc archive of zhcg?)"
  say "archive $dump: $entries tables with data"

  psql_admin -c "CREATE DATABASE \"$SCRATCH\"" >/dev/null
  pg_restore --exit-on-error --no-owner --no-privileges -d "$(db_url "$SCRATCH")" "$dump" \
    || fail "pg_restore into $SCRATCH"
  revision=$(psql "$(db_url "$SCRATCH")" -qtAX -c "SELECT version_num FROM alembic_version" 2>/dev/null || true)
  [ -n "$revision" ] || fail "the restored database has no alembic_version: not a zhcg database"
  say "restored into $SCRATCH at revision $revision"

  zhcg_on "$SCRATCH" migrate >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; fail "zhcg migrate"; }
  head=$(cd "$ROOT" && "$PYTHON" -c "from core.migrate import head_revision; print(head_revision())")
  revision=$(psql "$(db_url "$SCRATCH")" -qtAX -c "SELECT version_num FROM alembic_version")
  [ "$revision" = "$head" ] || fail "schema at $revision after zhcg migrate, this release's head is $head"
  say "zhcg migrate: schema at this release's head $head"

  year=$(date +%Y)
  zhcg_on "$SCRATCH" calendar "$year" >"$WORK/calendar.log" 2>&1 || { cat "$WORK/calendar.log" >&2; fail "zhcg calendar"; }
  zhcg_on "$SCRATCH" open311 list >"$WORK/open311.log" 2>&1 || { cat "$WORK/open311.log" >&2; fail "zhcg open311 list"; }
  zhcg_on "$SCRATCH" operators list >"$WORK/operators.log" 2>&1 || { cat "$WORK/operators.log" >&2; fail "zhcg operators list"; }
  say "zhcg calendar $year, open311 list, operators list: read the restored tables"

  counts "$SCRATCH" >"$WORK/restored.counts"
  total=$(awk '{ s += $2 } END { print s + 0 }' "$WORK/restored.counts")
  [ "$total" -gt 0 ] || fail "every table of the restored database is empty"
  say "rows per table (non-empty):"
  awk '$2 > 0 { printf "  %-40s %s\n", $1, $2 }' "$WORK/restored.counts"
}

self_test() {
  SOURCE="zhcg_restore_src_$SUFFIX"
  local data="$ROOT/core/data/xinyu"
  say "self-test: building $SOURCE (schema, departments, categories, register standards, an Open311 client)"
  psql_admin -c "CREATE DATABASE \"$SOURCE\"" >/dev/null
  {
    zhcg_on "$SOURCE" migrate
    zhcg_on "$SOURCE" import departments "$data/departments.csv"
    zhcg_on "$SOURCE" import categories "$data/categories.csv"
    zhcg_on "$SOURCE" import register-standards "$data/register_standards.csv"
    zhcg_on "$SOURCE" open311 add "恢复演练客户端"
  } >"$WORK/source.log" 2>&1 || { cat "$WORK/source.log" >&2; fail "building the source database"; }
  pg_dump -Fc -f "$WORK/zhcg.dump" "$(db_url "$SOURCE")"
  counts "$SOURCE" >"$WORK/source.counts"
  restore_and_check "$WORK/zhcg.dump"
  if ! diff -u "$WORK/source.counts" "$WORK/restored.counts" >"$WORK/counts.diff"; then
    cat "$WORK/counts.diff" >&2
    fail "row counts of the restored database differ from the original"
  fi
  say "every table's row count equals the original's"
}

case "${1:-}" in
  --self-test) self_test ;;
  ""|-h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) [ -r "$1" ] || fail "cannot read $1"; restore_and_check "$1" ;;
esac
say "OK"
