#!/usr/bin/env bash
# Installs the Debian packages Linli needs beyond a Rust toolchain and gcc:
# the libraries the kiosk window loads at run time (X11, xkbcommon, Mesa's
# GL and software Vulkan for egui_kittest snapshots), Xvfb for running
# the real window headless, Chromium for the admin console's browser test,
# and Node.js for the interop scenario's JavaScript automerge-repo peer and
# for playwright-core (which drives Debian's Chromium; it downloads nothing),
# PostgreSQL and HAProxy for the server's several-instance shape, and what
# building and checking the Debian packages needs. Safe to run again;
# installs only what is missing.
set -euo pipefail

packages=(
  libx11-6 libx11-xcb1 libxcursor1 libxi6 libxrandr2 libxkbcommon0 libxkbcommon-x11-0
  libegl1 libegl-mesa0 libgl1-mesa-dri libvulkan1 mesa-vulkan-drivers
  xvfb xauth
  chromium
  # Chinese text in Chromium's screenshots of the console (the kiosk embeds
  # its own font; the console uses the browser's, as office PCs have).
  fonts-noto-cjk
  # Spoken prompts on the kiosk (voice cmn for Mandarin, en for English).
  espeak-ng
  # The server's PostgreSQL store: its tests start their own cluster
  # (initdb into a temporary directory, a loopback port), never the
  # package's own service.
  postgresql
  # A real load balancer in front of several server instances in the
  # scale-out tests (started by the tests on loopback ports, never the
  # package's own service).
  haproxy
  # The Debian packages (scripts/package.sh, tests/tests/packages.rs):
  # dpkg-shlibdeps; systemd-analyze to verify the units; cage (and the
  # Xwayland it will not start without), which the kiosk session runs, and
  # which the test runs the packaged kiosk under; xwininfo to see the
  # packaged kiosk's window under Xvfb; lintian, Debian's checker of packages.
  dpkg-dev
  lintian
  systemd
  cage
  xwayland
  x11-utils
)

here="$(cd "$(dirname "$0")/.." && pwd)"
command -v node >/dev/null || packages+=(nodejs npm)
bash "$here/scripts/apt-install-missing.sh" install-system-deps "${packages[@]}"

# The foreign automerge-repo peer used by the interop scenario
# (tests/interop): the JavaScript implementation, from the npm registry.
if command -v npm >/dev/null; then
  if [ ! -d "$here/tests/interop/node_modules/@automerge/automerge-repo" ]; then
    echo "install-system-deps: installing the JavaScript automerge-repo peer for tests/interop"
    (cd "$here/tests/interop" && npm install --no-audit --no-fund --loglevel=error)
  fi
  if [ ! -d "$here/tests/browser/node_modules/playwright-core" ]; then
    echo "install-system-deps: installing playwright-core for tests/browser"
    (cd "$here/tests/browser" && npm install --no-audit --no-fund --loglevel=error)
  fi
else
  echo "install-system-deps: npm not found; the interop and browser tests need Node.js (apt-get install nodejs npm)" >&2
fi
