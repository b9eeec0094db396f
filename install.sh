#!/usr/bin/env bash
# Set up everything on a fresh machine: the offline dataset (Debian package), a virtualenv in .venv with
# torch and this project (editable, with test tools). Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")"

# Fashion-MNIST, the default dataset, from Debian (installs /usr/share/datasets/fashion-mnist).
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "install.sh: Fashion-MNIST is not installed; run 'sudo apt-get install dataset-fashion-mnist'" \
         "or point --data-dir / \$NAS_DATA at the IDX files" >&2
  fi
fi

# PostgreSQL server binaries (Debian's postgresql, /usr/lib/postgresql/*/bin), for the tests of studies shared by
# several machines: they start a throw-away server of their own on loopback and stop it (tests/pg_server.py).
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "install.sh: the PostgreSQL server is not installed (the storage tests need it); run" \
         "'sudo apt-get install postgresql'" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch 2.13.0: this machine keeps the CPU wheel on disk; elsewhere pip fetches it (set TORCH_SPEC to change).
.venv/bin/python -m pip install -q --disable-pip-version-check "${TORCH_SPEC:-torch==2.13.0}" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import torch, optuna, fvcore, submitit, psycopg2, spaces, nas" || { echo "install.sh: install failed" >&2; exit 1; }
