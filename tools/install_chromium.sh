#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for `alliance-study check-book`, once.
# Idempotent: does nothing when /usr/bin/chromium (or $CHROMIUM) is already executable.
# Needs apt (Debian/Ubuntu images; on Ubuntu desktop the apt package is a snap shim, so point
# `alliance-study check-book --chromium` at a real binary instead). Runs apt as root, or via sudo.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    echo "chromium: $("$CHROMIUM" --version 2>/dev/null || echo present) at $CHROMIUM"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: $CHROMIUM not found and apt-get is unavailable; install Chromium and pass --chromium" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "error: installing Chromium needs root (or sudo): apt-get install -y chromium" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# fonts-liberation named explicitly (images that set --no-install-recommends would skip it): without a
# font, text renders as nothing and page screenshots look blank.
$SUDO apt-get install -y -qq chromium fonts-liberation >/dev/null
echo "chromium: $("$CHROMIUM" --version 2>/dev/null) installed at $CHROMIUM"
