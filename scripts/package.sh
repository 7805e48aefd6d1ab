#!/usr/bin/env bash
# Builds the Debian packages:
#   target/debian/linli-server_<version>_<arch>.deb  the sync server as a
#       systemd service (own user, /etc/linli/server.toml, /var/lib/linli)
#   target/debian/linli-kiosk_<version>_<arch>.deb   the hall kiosk and its
#       session (an automatic login into cage on tty7)
# with dpkg-deb (installing dpkg-dev if it is missing). Man pages come from
# the binaries' own command-line definitions.
#
#   scripts/package.sh                  release build, then package
#   scripts/package.sh --bin-dir DIR    package binaries built already
#                                       (the tests package target/debug)
#   scripts/package.sh --out DIR        write the .deb files there
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

bin_dir=""
out="target/debian"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="${2:?--bin-dir needs a directory}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# dpkg-deb comes with dpkg; dpkg-shlibdeps (the shared-library
# dependencies) with dpkg-dev.
command -v dpkg-shlibdeps >/dev/null || bash scripts/apt-install-missing.sh package dpkg-dev

if [ -z "$bin_dir" ]; then
  cargo build --release --locked -p linli-sync-server -p linli-kiosk
  bin_dir="target/release"
fi
bin_dir="$(cd "$bin_dir" && pwd)"
for b in linli-server linli-kiosk; do
  [ -x "$bin_dir/$b" ] || { echo "package: $bin_dir/$b is missing" >&2; exit 1; }
done

version="$("$bin_dir/linli-server" --version | awk '{print $2}')"
maintainer="Linli developers <linli@linli.invalid>"
# The release date: the last commit's, so the same tree packages the same.
released="$(git log -1 --format=%aD 2>/dev/null || date -R)"
arch="$(dpkg --print-architecture)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The libraries a binary links, as Depends (dpkg-shlibdeps wants a
# debian/control beside it).
shlibs() {
  local package="$1" binary="$2"
  mkdir -p "$work/shlibs/debian"
  printf 'Source: linli\n\nPackage: %s\nArchitecture: any\n' "$package" >"$work/shlibs/debian/control"
  (cd "$work/shlibs" && dpkg-shlibdeps -O -e"$binary" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

# Copies a binary in, stripped of the symbols a user never needs.
install_binary() {
  install -D -m 0755 "$1" "$2"
  if command -v strip >/dev/null; then strip --strip-unneeded "$2"; fi
}

# Man pages, compressed as Debian's policy asks.
install_man_pages() {
  local root="$1"; shift
  mkdir -p "$root/usr/share/man/man1"
  "$@" "$root/usr/share/man/man1"
  gzip -9n "$root"/usr/share/man/man1/*.1
}

install_docs() {
  local root="$1" package="$2"
  local doc="$root/usr/share/doc/$package"
  mkdir -p "$doc"
  cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: linli
Source: the Linli workspace (Cargo.toml)

Files: *
Copyright: $(date -d "$released" +%Y) the Linli developers
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
  # Debian's changelog names the release; the project's says what changed.
  gzip -9n -c CHANGELOG.md >"$doc/CHANGELOG.md.gz"
  printf '%s (%s) unstable; urgency=medium\n\n  * Linli %s: see CHANGELOG.md.gz beside this file.\n\n -- %s  %s\n' \
    "$package" "$version" "$version" "$maintainer" "$released" | gzip -9n >"$doc/changelog.gz"
}

# Control file, checksums, then the .deb itself (files owned by root).
build_deb() {
  local root="$1" package="$2" depends="$3" recommends="$4" summary="$5" description="$6"
  local size
  size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
  {
    echo "Package: $package"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $size"
    echo "Depends: $depends"
    [ -n "$recommends" ] && echo "Recommends: $recommends"
    echo "Section: net"
    echo "Priority: optional"
    echo "Description: $summary"
    echo "$description" | sed 's/^/ /'
  } >"$root/DEBIAN/control"
  (cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$root/DEBIAN/md5sums"
  local deb="$out/${package}_${version}_${arch}.deb"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
  echo "package: $deb ($(du -k "$deb" | cut -f1) KiB)"
}

# --- linli-server -----------------------------------------------------------
root="$work/linli-server"
mkdir -p "$root/DEBIAN"
install_binary "$bin_dir/linli-server" "$root/usr/bin/linli-server"
install -D -m 0644 sync-server/packaging/linli-server.service \
  "$root/lib/systemd/system/linli-server.service"
mkdir -p "$root/etc/linli"
"$bin_dir/linli-server" --data-dir /var/lib/linli print-config >"$root/etc/linli/server.toml"
# 0640 root:linli once installed: postinst registers that with
# dpkg-statoverride (the group does not exist before then).
chmod 0644 "$root/etc/linli/server.toml"
echo /etc/linli/server.toml >"$root/DEBIAN/conffiles"
install_man_pages "$root" "$bin_dir/linli-server" generate-man --out
install_docs "$root" linli-server
install -m 0755 sync-server/packaging/postinst sync-server/packaging/prerm \
  sync-server/packaging/postrm "$root/DEBIAN/"
build_deb "$root" linli-server \
  "$(shlibs linli-server "$root/usr/bin/linli-server"), adduser" \
  "" \
  "Linli sync server: community hall kiosks sync here" \
  "Offline-first kiosks in community service halls keep check-ins, ratings,
requests and volunteer points as Automerge documents and merge them here
whenever they reach the network. The server keeps them in SQLite (or
PostgreSQL), and serves the admin console, statistics and exports.
.
This package runs it as the systemd service linli-server, under its own
user, with settings in /etc/linli/server.toml and data in /var/lib/linli."

# --- linli-kiosk ------------------------------------------------------------
root="$work/linli-kiosk"
mkdir -p "$root/DEBIAN"
install_binary "$bin_dir/linli-kiosk" "$root/usr/bin/linli-kiosk"
install -D -m 0644 kiosk/packaging/linli-kiosk.service \
  "$root/lib/systemd/system/linli-kiosk.service"
install -D -m 0644 kiosk/packaging/linli-kiosk.pam "$root/etc/pam.d/linli-kiosk"
install -D -m 0644 kiosk/packaging/kiosk.env "$root/etc/linli/kiosk.env"
printf '/etc/linli/kiosk.env\n/etc/pam.d/linli-kiosk\n' >"$root/DEBIAN/conffiles"
install_man_pages "$root" "$bin_dir/linli-kiosk" --generate-man
install_docs "$root" linli-kiosk
install -m 0755 kiosk/packaging/postinst kiosk/packaging/prerm \
  kiosk/packaging/postrm "$root/DEBIAN/"
# The window's libraries are loaded at run time (Wayland, EGL, xkbcommon),
# so dpkg-shlibdeps cannot see them: they are named here. Debian 12's cage
# refuses to start without Xwayland, though its package does not say so.
build_deb "$root" linli-kiosk \
  "$(shlibs linli-kiosk "$root/usr/bin/linli-kiosk"), cage, xwayland, libwayland-client0, libwayland-cursor0, libwayland-egl1, libxkbcommon0, libegl1, libegl-mesa0, libgl1-mesa-dri, libpam-systemd, adduser" \
  "espeak-ng" \
  "Linli hall kiosk: check-ins, ratings, requests, volunteer points" \
  "The touchscreen kiosk of a community service hall. Residents check in,
rate what they attended and leave requests; volunteers sign in and out and
redeem their points. It keeps everything in a local store and works with
no network, syncing with the Linli server when it can.
.
This package sets the machine up as a hall kiosk: the user linli-kiosk is
logged in automatically on tty7 into cage, which shows the kiosk
fullscreen and restarts it if it exits, with screen blanking off."
