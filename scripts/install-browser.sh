#!/usr/bin/env bash
# Headless Chromium + ChromeDriver from Debian, for the report's browser test. Idempotent.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: need root and apt-get to install Debian's chromium and chromium-driver;" >&2
  echo "install them yourself (apt-get install chromium chromium-driver) to run the browser test." >&2
  exit 0
fi
echo "installing Debian chromium and chromium-driver (browser test)..."
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver >/dev/null
