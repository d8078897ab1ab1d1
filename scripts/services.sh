#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, trust auth) and Redis (127.0.0.1:6379) are installed and up.
# Installs them with apt when missing (Debian), starts them when down. Idempotent.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

need_apt_update=1
apt_install() {
  if [ "$need_apt_update" = 1 ]; then $SUDO apt-get update -qq; need_apt_update=0; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing PostgreSQL"; apt_install postgresql postgresql-client
fi
pg_version() { ls /etc/postgresql | sort -V | tail -n 1; }
pg_trust_local() {
  # Tests connect as postgres over loopback without a password (trust), as on the CI machines;
  # only that user gets it. Use ZHCG_TEST_PG_ADMIN_URL with a password on a shared machine instead.
  local hba; hba=/etc/postgresql/$(pg_version)/main/pg_hba.conf
  if $SUDO test -f "$hba" && ! $SUDO grep -q "zhcg-trust" "$hba"; then
    printf 'host all postgres 127.0.0.1/32 trust # zhcg-trust\nhost all postgres ::1/128 trust # zhcg-trust\n' \
      | $SUDO sh -c "cat - '$hba' > '$hba.new' && mv '$hba.new' '$hba' && chown postgres:postgres '$hba'"
    return 0
  fi
  return 1
}
if ! pg_up; then
  echo "starting PostgreSQL"
  if ! pg_lsclusters -h 2>/dev/null | grep -q " main "; then $SUDO pg_createcluster "$(pg_version)" main >/dev/null; fi
  pg_trust_local || true
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
pg_up || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1" >/dev/null 2>&1 && pg_trust_local; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main reload
  sleep 1
fi
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test" >/dev/null

if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing Redis"; apt_install redis-server
fi
if ! redis_up; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
fi
redis_up || { echo "Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
echo "services: PostgreSQL and Redis are up"
