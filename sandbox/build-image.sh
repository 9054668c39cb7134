#!/usr/bin/env bash
# Builds the docker sandbox image (default `minicode-sandbox:latest`) from
# this machine's own Node.js, without any image registry: a root file system
# is assembled from host files (node and its shared libraries, npm, a POSIX
# shell and a few core utilities, CA certificates, a passwd file) and loaded
# with `docker import`.
#
# Real deployments can build sandbox/Dockerfile instead (FROM a node image);
# both give the same layout: node and npm on PATH, /bin/sh, /workspace.
#
# Idempotent: does nothing when the image exists and was built from the same
# node and npm versions and this script. `--force` rebuilds anyway.
#
# Usage: sandbox/build-image.sh [--force] [image]
set -euo pipefail

force=0
if [[ "${1:-}" == "--force" ]]; then
  force=1
  shift
fi
image="${1:-${MINICODE_DOCKER_IMAGE:-minicode-sandbox:latest}}"

node_bin="$(command -v node)" || { echo "build-image: node is not installed" >&2; exit 1; }
npm_bin="$(command -v npm)" || { echo "build-image: npm is not installed" >&2; exit 1; }
node_version="$("$node_bin" -v)"
npm_version="$("$npm_bin" -v)"
script_hash="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
stamp="node-${node_version}-npm-${npm_version}-script-${script_hash}"

if [[ "$force" == 0 ]] &&
  current="$(docker image inspect --format '{{ index .Config.Labels "minicode.sandbox.build" }}' "$image" 2>/dev/null)" &&
  [[ "$current" == "$stamp" ]]; then
  echo "build-image: $image is up to date ($stamp)"
  exit 0
fi

root="$(mktemp -d /tmp/minicode-sandbox-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT

# Copies a file (following symlinks) to the same path under the new root.
copy() {
  local src="$1"
  mkdir -p "$root$(dirname "$src")"
  cp -L "$src" "$root$src"
}

# Copies a binary and every shared library `ldd` says it needs.
copy_binary() {
  local bin="$1" dest="${2:-$1}"
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$bin" "$root$dest"
  ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [[ -e "$lib" ]] && copy "$lib"
  done
}

mkdir -p "$root"/{bin,usr/bin,usr/lib,etc,tmp,workspace,npm-cache,home/sandbox,proc,sys,dev}
chmod 1777 "$root/tmp"
chmod 0777 "$root/home/sandbox"

# Node.js, as /usr/local/bin/node like the official images.
copy_binary "$node_bin" /usr/local/bin/node

# The whole C runtime, not only what node links: native modules of npm
# packages (rollup's, for one) load librt, libresolv and friends.
for lib in /lib/x86_64-linux-gnu/lib{c.so.6,m.so.6,dl.so.2,pthread.so.0,rt.so.1,resolv.so.2,util.so.1,anl.so.1,mvec.so.1,nss_dns.so.2,nss_files.so.2,gcc_s.so.1} \
  /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1; do
  [[ -e "$lib" ]] && copy "$lib"
done

# npm: the package folder /usr/bin/npm points into. Debian's own `npm`
# package spreads npm's dependencies over /usr/share/nodejs: copy those too.
npm_cli="$(readlink -f "$npm_bin")"
npm_dir="$(dirname "$npm_cli")"
while [[ "$npm_dir" != / && ! -f "$npm_dir/package.json" ]]; do
  npm_dir="$(dirname "$npm_dir")"
done
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
for shared in /usr/share/nodejs /usr/lib/nodejs; do
  if [[ "$npm_cli" == "$shared"/* || -L "$npm_dir/node_modules" ]] && [[ -d "$shared" ]]; then
    mkdir -p "$root$shared"
    cp -a "$shared/." "$root$shared/"
  fi
done
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

# A POSIX shell for npm scripts and a few core utilities they commonly use.
sh_bin="$(command -v dash || command -v busybox || readlink -f /bin/sh)"
copy_binary "$sh_bin" /bin/sh
for tool in env sleep cat ls mkdir rm cp mv ln chmod touch id uname head tail sed grep tr cut xargs sort wc basename dirname find; do
  if path="$(command -v "$tool")"; then
    copy_binary "$path" "/usr/bin/$tool"
  fi
done
ln -s /usr/bin/env "$root/bin/env" 2>/dev/null || true

# TLS roots: the host's bundle, which node also trusts through
# NODE_EXTRA_CA_CERTS (set below), so a registry reached through a
# TLS-inspecting proxy the host trusts works in the sandbox too.
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  copy /etc/ssl/certs/ca-certificates.crt
fi

# Users: root, and `sandbox` (1000) for images run without an explicit user.
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
sandbox:x:1000:1000:sandbox:/home/sandbox:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
sandbox:x:1000:
nogroup:x:65534:
GROUP
echo 'hosts: files dns' > "$root/etc/nsswitch.conf"

# Sanity check before importing: the copied node runs from the new root's libraries.
"$root/lib64/ld-linux-x86-64.so.2" --library-path "$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu" \
  "$root/usr/local/bin/node" -e 'process.exit(0)' 2>/dev/null ||
  echo "build-image: warning: could not check node against the copied libraries" >&2

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV HOME=/home/sandbox' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'WORKDIR /workspace' \
  --change 'USER 1000:1000' \
  --change "LABEL minicode.sandbox.build=$stamp" \
  --change 'CMD ["node"]' \
  - "$image" >/dev/null

docker run --rm "$image" node -v >/dev/null
echo "build-image: built $image ($stamp)"
