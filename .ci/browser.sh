#!/usr/bin/env bash
# Chromium and its driver for the console's browser tests (tests/test_console_browser.py), from
# Debian's own packages. Idempotent: nothing is installed when both are there already. Root only
# for the install; without root and without the packages it says what to install and fails.
# The tests use /usr/bin/chromium and /usr/bin/chromedriver; nothing is downloaded at test time.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "browser.sh: $(chromium --version 2>/dev/null | head -n 1); $(chromedriver --version | head -n 1)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "browser.sh: chromium or chromedriver missing and this is not root: install the Debian packages 'chromium' and 'chromium-driver'" >&2
  exit 1
fi
echo "browser.sh: installing chromium and chromium-driver from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null >/dev/null
apt-get install -y -qq --no-install-recommends chromium chromium-driver </dev/null >/dev/null
chromium --version | head -n 1
