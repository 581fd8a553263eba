#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: sets up a real Docker Engine, Compose v2 and the
# local busybox and Traefik images (scripts/setup-docker.sh), OpenSSH for the SSH push tests
# (scripts/setup-ssh.sh), a virtualenv with the test tools, then ruff, mypy (the package and the
# unit tests' fakes: every adapter and fake holds to its port) and pytest. Extra
# arguments go to pytest (e.g. scripts/test.sh tests/unit -q).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup-docker.sh
bash scripts/setup-ssh.sh
if [ ! -x .venv/bin/pytest ] || [ pyproject.toml -nt .venv/.installed ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
  touch .venv/.installed
fi
.venv/bin/ruff check .
.venv/bin/mypy
# three workers, a test file each at a time (--dist loadfile: a file's shared apps stay on one
# worker), in the order tests/conftest.py gives (longest files first): an integration test mostly
# waits (health checks, Traefik, grace periods), so three share two cores well. `-n 0` runs in
# this process.
exec .venv/bin/pytest -p no:cacheprovider -n 3 --dist loadfile --no-loadscope-reorder "$@"
