#!/usr/bin/env bash
# Installs Debian's headless Chromium for the report's browser test, where missing.
# Best effort: without it the browser test fails with a clear message, it is never skipped in CI.
set -u
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-browser: chromium missing and cannot apt-get it here (not root or no apt)" >&2
  exit 0
fi
echo "setup-browser: installing Debian chromium for the browser test" >&2
apt-get update -qq >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
  || echo "setup-browser: apt-get install chromium failed" >&2
exit 0
