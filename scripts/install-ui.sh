#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# meson install's step for the web UI (meson.build): copy the built UI (SRC: webui/dist, made by
# `make webui`) to DEST (SHARE/ui) under $DESTDIR. Fails, saying so, when the UI is not built.
set -eu
src=$1
dest=${DESTDIR:-}$2
if [ ! -f "$src/index.html" ]; then
  echo "install-ui: $src/index.html is missing: build the UI first (make webui)" >&2
  exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
cp -R "$src/." "$dest/"
find "$dest" -type d -exec chmod 755 {} +
find "$dest" -type f -exec chmod 644 {} +
echo "install-ui: $dest"
