#!/bin/sh
# deps.sh — install the Debian packages tgs3 builds with and the clients its tests drive.
# `deps.sh fuzz` installs what make fuzz needs instead: clang and its libFuzzer runtime.
set -e
PKGS="gcc make pkg-config libh2o-dev libuv1-dev libcurl4-openssl-dev libsqlite3-dev libjansson-dev
libssl-dev libexpat1-dev libisal-dev awscli restic rclone s3cmd python3-boto3 s3fs curl sqlite3 nginx-light docker-compose
chromium"
FUZZ_PKGS="clang libclang-rt-14-dev"
[ "${1:-}" = fuzz ] && PKGS=$FUZZ_PKGS
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -q >/dev/null || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
