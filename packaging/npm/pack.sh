#!/usr/bin/env bash
# Stage and pack the npm packages: `keyrace` (the launcher) and `@keyrace/linux-x64` (the
# binary), both at the workspace's version (Cargo.toml), the one version the crate, the wheel
# and the binary carry. Usage: bash packaging/npm/pack.sh KEYRACE_BINARY OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:?usage: pack.sh KEYRACE_BINARY OUT_DIR}
out=${2:?usage: pack.sh KEYRACE_BINARY OUT_DIR}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/../../Cargo.toml" | head -1)
[ -n "$version" ] || { echo "no version in Cargo.toml" >&2; exit 2; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out"
cp -r "$here/keyrace" "$here/linux-x64" "$stage/"
install -m 0755 -D "$binary" "$stage/linux-x64/bin/keyrace"
for pkg in keyrace linux-x64; do
    node -e '
        const fs = require("fs");
        const [file, version] = process.argv.slice(1);
        const json = JSON.parse(fs.readFileSync(file, "utf8"));
        json.version = version;
        for (const dep of Object.keys(json.optionalDependencies || {})) {
            json.optionalDependencies[dep] = version;
        }
        fs.writeFileSync(file, JSON.stringify(json, null, 2) + "\n");
    ' "$stage/$pkg/package.json" "$version"
    (cd "$stage/$pkg" && npm pack --silent --pack-destination "$out" >/dev/null)
done
ls "$out"
