#!/usr/bin/env bash
# Debian packages sdstudio uses beyond Python wheels. Installs them when run as root with apt;
# otherwise prints the one command to run. Never fails the build: each one is optional.
set -u
wanted=(fonts-noto-color-emoji libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libxcb-shape0 libxcb-render-util0 libxcb-image0 libegl1 libgl1 libfontconfig1 libdbus-1-3)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || echo "warning: could not install ${missing[*]}; run: sudo apt-get install -y ${missing[*]}"
else
  echo "note: for the emoji dataset and a real window, run: sudo apt-get install -y ${missing[*]}"
fi
exit 0
