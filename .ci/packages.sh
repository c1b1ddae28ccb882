#!/usr/bin/env bash
# keyrace installed without Rust, as its users would: build the PyPI wheel (maturin, the way
# ruff and uv ship) and the npm packages (a launcher plus the platform's binary, the way
# esbuild and biome ship), install each into a fresh environment, and run the full check of
# the matching example adapter from the installed command. Run after the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The wheel, installed into a venv that has nothing else.
python3 -m venv "$work/build-venv"
"$work/build-venv/bin/pip" install --quiet "maturin>=1.5,<2"
(cd packaging/python && "$work/build-venv/bin/maturin" build --release --quiet --out "$work/wheels")
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$work"/wheels/keyrace-*.whl
"$work/venv/bin/keyrace" --version
start=$SECONDS
"$work/venv/bin/keyrace" check --require-systematic --adapter python3 "$root/examples/adapter.py"
echo "== wheel: the Python example's full check from the installed keyrace: $((SECONDS - start)) s"

# The npm packages, installed from their tarballs into a fresh project.
# Stripped where binutils is installed: the package then carries no debug symbols.
strip -o "$work/keyrace" target/release/keyrace 2>/dev/null || cp target/release/keyrace "$work/keyrace"
bash packaging/npm/pack.sh "$work/keyrace" "$work/npm"
mkdir "$work/project"
(cd "$work/project" && npm init -y >/dev/null &&
    npm install --no-audit --no-fund "$work"/npm/keyrace-linux-x64-*.tgz "$work"/npm/keyrace-[0-9]*.tgz)
start=$SECONDS
(cd "$work/project" && npx --no-install keyrace check --require-systematic --adapter node "$root/examples/adapter.mjs")
echo "== npm: the JavaScript example's full check from the installed keyrace: $((SECONDS - start)) s"
