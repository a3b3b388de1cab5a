# The two commands of README.md, and a few conveniences. Each target works on a new machine.
.PHONY: run test install lint format

run:  ## Install what is missing, migrate and serve the app at http://127.0.0.1:8000 (SQLite).
	scripts/run.sh

test:  ## Install what is missing and run linters, mypy and the whole pytest suite on MariaDB.
	scripts/test.sh

install:
	scripts/install.sh --dev

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
