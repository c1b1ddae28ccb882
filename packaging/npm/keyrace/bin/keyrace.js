#!/usr/bin/env node
// The keyrace launcher: finds the binary of this platform's package (installed as an optional
// dependency, the way esbuild and biome ship theirs) and runs it with this process's
// arguments, standard streams and exit status.
"use strict";

const { spawnSync } = require("node:child_process");

const platforms = {
  "linux x64": "@keyrace/linux-x64",
};

const key = `${process.platform} ${process.arch}`;
const pkg = platforms[key];
if (!pkg) {
  console.error(
    `keyrace: no binary for ${key}; supported: ${Object.keys(platforms).join(", ")}. ` +
      "Build it from source with cargo instead (see the project's README)."
  );
  process.exit(2);
}
let binary;
try {
  binary = require.resolve(`${pkg}/bin/keyrace`);
} catch {
  console.error(
    `keyrace: the package ${pkg} is not installed (npm skips optional dependencies with ` +
      "--omit=optional or --no-optional); install it, or reinstall keyrace without that flag"
  );
  process.exit(2);
}
const run = spawnSync(binary, process.argv.slice(2), { stdio: "inherit" });
if (run.error) {
  console.error(`keyrace: could not run ${binary}: ${run.error.message}`);
  process.exit(2);
}
if (run.signal) {
  // Die of the same signal, so a caller sees what the runner saw.
  process.kill(process.pid, run.signal);
}
process.exit(run.status ?? 2);
