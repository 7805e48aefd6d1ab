#!/usr/bin/env bash
# Installs those of the named Debian packages that are not installed yet
# (as root, or through sudo), and says which. Used by
# install-system-deps.sh and package.sh.
#
#   scripts/apt-install-missing.sh WHO PACKAGE...
# WHO names the caller in what it prints.
set -euo pipefail
who="$1"; shift

missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "$who: Debian packages are installed"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "$who: run as root (or install sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "$who: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
