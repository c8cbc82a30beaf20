#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the browser test (never a browser download of a test tool's own).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "the browser test needs Debian's chromium: sudo apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
echo "installing Debian chromium + chromium-driver for the browser test"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
test -x /usr/bin/chromium
