#!/usr/bin/env bash
# Sets up and serves the app at http://127.0.0.1:8000 on SQLite (or on DATABASE_URL if set).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install.sh
.venv/bin/python manage.py migrate --noinput
if [[ "${DJANGO_DEBUG:-true}" =~ ^(0|false|no|off)$ ]]; then
  .venv/bin/python manage.py collectstatic --noinput -v0
fi
echo "Serving on http://127.0.0.1:${PORT:-8000}/ (Ctrl-C to stop)"
exec .venv/bin/daphne -b "${HOST:-127.0.0.1}" -p "${PORT:-8000}" fersite.asgi:application
