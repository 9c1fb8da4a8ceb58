#!/usr/bin/env bash
# Run every test of the citytwin workspace on a fresh machine.
# Installs what the tests need when it is missing, then runs the whole workspace's tests.
# Later issues add here: mosquitto (MQTT tests), nats-server from PyPI (distribution tests),
# chromium (viewer tests). Keep each install idempotent and quiet.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# (nothing from Debian is needed yet by the tests)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq "${need_apt[@]}") >/dev/null
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
  # nextest does not run doctests.
  cargo test --workspace --doc --quiet
else
  cargo test --workspace --no-fail-fast "$@"
fi
