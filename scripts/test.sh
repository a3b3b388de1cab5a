#!/usr/bin/env bash
# Sets up and runs the whole test suite: linters, type checks, and pytest (including the `ml`
# tests on the real models and the `e2e` tests in headless Chromium) against a throwaway
# MariaDB server and a throwaway Redis server on loopback, which it stops afterwards.
#
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not e2e" tests/analysis`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install.sh --dev

workdir=$(mktemp -d /tmp/fersite-test.XXXXXX)
chmod 755 "$workdir"
mariadb_pid=""
redis_pid=""

cleanup() {
  if [[ -n $mariadb_pid ]]; then
    kill "$mariadb_pid" 2>/dev/null || true
    wait "$mariadb_pid" 2>/dev/null || true
  fi
  if [[ -n $redis_pid ]]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

free_port() {
  .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# MariaDB with its own data directory, socket and port, so it never touches a server that is
# already running on this machine.
db_port=$(free_port)
mkdir -p "$workdir/mysql" "$workdir/run"
user_args=()
if [[ $(id -u) == 0 ]]; then
  chown -R mysql:mysql "$workdir/mysql" "$workdir/run"
  user_args=(--user=mysql)
fi
mariadb-install-db --no-defaults "${user_args[@]}" --datadir="$workdir/mysql" \
  --auth-root-authentication-method=normal --skip-test-db >"$workdir/mariadb-install.log" 2>&1 \
  || { cat "$workdir/mariadb-install.log"; exit 1; }
/usr/sbin/mariadbd --no-defaults "${user_args[@]}" --datadir="$workdir/mysql" \
  --socket="$workdir/run/mysqld.sock" --pid-file="$workdir/run/mysqld.pid" \
  --bind-address=127.0.0.1 --port="$db_port" --skip-log-bin --innodb-buffer-pool-size=256M \
  --innodb-flush-log-at-trx-commit=2 --character-set-server=utf8mb4 \
  --collation-server=utf8mb4_unicode_ci >"$workdir/mariadb.log" 2>&1 &
mariadb_pid=$!

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
  --dir "$workdir" >"$workdir/redis.log" 2>&1 &
redis_pid=$!

for _ in $(seq 1 100); do
  if mariadb-admin --no-defaults --socket="$workdir/run/mysqld.sock" -uroot ping >/dev/null 2>&1; then
    break
  fi
  sleep 0.2
done
mariadb --no-defaults --socket="$workdir/run/mysqld.sock" -uroot <<SQL
CREATE DATABASE fersite CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER 'fersite'@'127.0.0.1' IDENTIFIED BY 'fersite';
GRANT ALL PRIVILEGES ON fersite.* TO 'fersite'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`test_fersite%\`.* TO 'fersite'@'127.0.0.1';
SQL
for _ in $(seq 1 50); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done

export DJANGO_SETTINGS_MODULE=fersite.settings.test
export DATABASE_URL="mysql://fersite:fersite@127.0.0.1:$db_port/fersite"
export REDIS_URL="redis://127.0.0.1:$redis_port/0"
# Read by a test that fails if the suite silently ran on another database.
export FERSITE_EXPECT_DB_VENDOR=mariadb
export MEDIA_ROOT="$workdir/media"

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest (MariaDB on port $db_port, Redis on port $redis_port)"
.venv/bin/python -m pytest "$@"
