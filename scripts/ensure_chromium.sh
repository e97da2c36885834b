#!/usr/bin/env bash
# Headless Chromium for the report's browser test (tests/pictures/test_html_report.py).
# Installs the Debian package only when it is missing AND we are root with apt-get (CI, the
# dev container); otherwise says why the browser test will be skipped. A failed install
# fails `make test`, so CI never silently skips the browser test.
set -euo pipefail
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing chromium (Debian package) for the report's browser test..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  command -v chromium >/dev/null
else
  echo "note: chromium is not installed and cannot be here (needs root and apt-get);" \
       "the report's browser test will be skipped. Install the 'chromium' package to run it."
fi
