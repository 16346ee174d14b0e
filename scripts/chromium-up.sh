#!/usr/bin/env bash
# Debian's chromium, for the test that opens `oxnas report ranking`'s HTML page in a real headless
# browser (crates/cli/tests/report.rs). CI runs it from .ci/run. Installs the package with apt-get
# when /usr/bin/chromium is missing (needs root); does nothing when it is there, so it is safe to
# run again. Then checks that the browser starts headless and renders a page.
set -euo pipefail
chromium="${OXNAS_CHROMIUM:-/usr/bin/chromium}"

fail() {
  echo "chromium-up: $*" >&2
  exit 1
}

if [[ ! -x "$chromium" ]]; then
  [[ "$chromium" == /usr/bin/chromium ]] || fail "OXNAS_CHROMIUM=$chromium is not an executable"
  [[ $(id -u) == 0 ]] || fail "chromium is not installed and installing it needs root (apt-get install chromium)"
  echo "chromium-up: installing Debian's chromium with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || fail "apt-get update failed"
  apt-get install -y -qq chromium >/dev/null || fail "apt-get install chromium failed"
fi

# The flags the test uses: headless, no sandbox (CI runs as root), nothing fetched from the network.
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
dom="$(timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$profile" \
  --dump-dom 'data:text/html,<p id="up">chromium-up</p>' 2>"$profile/stderr")" \
  || { tail -n 20 "$profile/stderr" >&2; fail "$chromium does not run headless (its last log lines are above)"; }
[[ "$dom" == *'<p id="up">chromium-up</p>'* ]] || fail "$chromium ran but rendered nothing"
echo "chromium-up: $("$chromium" --version 2>/dev/null || echo "$chromium") renders headless" >&2
