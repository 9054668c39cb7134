#!/usr/bin/env bash
# Starts minicode for the end-to-end tests: fresh data, offline model, process
# sandbox, open registration (every test signs up its own users; the invite
# flow has a server of its own in admin.spec.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
port="$1"
data="${E2E_DATA:-target/e2e-data}"
rm -rf "$data"
# The site scripts/build-site or `cargo leptos build` wrote; scripts/test also
# points it at target/site-cargo-leptos (relative to the repository root).
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
export LEPTOS_ENV=PROD
# The binary `cargo leptos build` or scripts/build-site wrote (under CARGO_TARGET_DIR when that is set).
exec "${MINICODE_BIN:-${CARGO_TARGET_DIR:-target}/debug/minicode}" \
  --addr "127.0.0.1:$port" \
  --data-dir "$data" \
  --database-url "sqlite://$data/minicode.db?mode=rwc" \
  --auth-rate-per-minute 1000 \
  --registration "${E2E_REGISTRATION:-open}" \
  --log "${E2E_LOG:-info}"
