#!/usr/bin/env bash
# Regenerate the initial migration from the models (allowed until the first release).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f src/patron/migrations/versions/0001_initial.py
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from patron.core.migrate import alembic_config
cfg = alembic_config(f"sqlite:///{sys.argv[1]}/empty.db")
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001_initial")
PY
.venv/bin/ruff format -q src/patron/migrations/versions/ || true
rm -rf "$tmp"
ls src/patron/migrations/versions/
