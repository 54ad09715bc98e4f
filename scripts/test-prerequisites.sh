#!/usr/bin/env bash
# Run by `npm test` before the suite (npm's "pretest"): what the tests need beyond npm packages.
# The cluster page's browser test drives Debian's Chromium, never a downloaded browser build;
# where it is missing and this runs as root, it is installed from Debian's packages. Otherwise
# the browser test says why and skips.
set -u
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test prerequisites: installing Debian's chromium for the cluster page's browser test"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null; then
    echo "test prerequisites: chromium could not be installed; the browser test will skip and say so"
  fi
else
  echo "test prerequisites: chromium is not installed (install Debian's chromium package); the browser test will skip"
fi
exit 0
