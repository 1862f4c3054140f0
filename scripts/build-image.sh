#!/usr/bin/env bash
# `npm run image [-- TAG]`: builds the OCI image of the three programs (supernode, dfget,
# dfdaemon) with buildah, from nothing: no base image is downloaded. It stages a root
# filesystem — this machine's Node runtime (stripped) and /usr/bin/env with the shared
# libraries ldd names, the production node_modules, dist/, bin/ and package.json — and
# builds packaging/Containerfile (FROM scratch) on it. TAG defaults to
# localhost/damselfly:<package version>. Prints the tag and the image's size.
# Needs: buildah (Debian package), node and npm, a built dist/ (built here when missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

version="$(node -p 'require("./package.json").version')"
tag="${1:-localhost/damselfly:$version}"
command -v buildah >/dev/null || { echo "image: buildah is not installed (Debian package buildah)" >&2; exit 2; }
[ -f dist/dfget-bundle/dfget.js ] || npm run build

stage="$(mktemp -d "${TMPDIR:-/tmp}/damselfly-image.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
rootfs="$stage/rootfs"
app="$rootfs/opt/damselfly"
mkdir -p "$app" "$rootfs/usr/bin" "$rootfs/etc/damselfly" "$rootfs/tmp" "$stage/home"
chmod 1777 "$rootfs/tmp"

# The programs: production dependencies only, from the lock file (npm's cache first), without
# what nothing loads at run time (type declarations, source maps, Markdown).
cp package.json package-lock.json "$app/"
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
find "$app/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' -o -name '*.markdown' \) -delete
cp -r dist bin "$app/"

# The runtime: node and env (the executables' #!/usr/bin/env node), and the libraries they load.
node_bin="$(readlink -f "$(command -v node)")"
cp "$node_bin" "$rootfs/usr/bin/node"
if command -v strip >/dev/null; then strip --strip-all "$rootfs/usr/bin/node"; fi
cp "$(readlink -f /usr/bin/env)" "$rootfs/usr/bin/env"
for exe in "$node_bin" /usr/bin/env; do
  # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
  ldd "$exe" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
done | sort -u | while read -r lib; do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done

# Users (root, and damselfly as 65532 that the image runs as) and name resolution.
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\ndamselfly:x:65532:65532:damselfly:/var/lib/damselfly:/usr/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\ndamselfly:x:65532:\n' > "$rootfs/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$rootfs/etc/nsswitch.conf"

buildah build --quiet --format oci --label "org.opencontainers.image.version=$version" \
  -f "$root/packaging/Containerfile" -t "$tag" "$stage" >/dev/null
size="$(buildah inspect --type image --format '{{.Docker.Size}}' "$tag" 2>/dev/null || true)"
echo "image: $tag"
podman image inspect --format 'image: {{.Size}} bytes' "$tag" 2>/dev/null || { [ -n "$size" ] && echo "image: $size bytes"; } || true
