#!/usr/bin/env node
// A keyrace-adapter/1 adapter for a correct vault whose key-file code resolves and checks
// paths the way real vaults do before every file operation: fs.realpathSync (an lstat of
// every path component), existsSync of the directories, a stat of the key file for its size.
// None of those checks changes anything, so they commute with the other actor's calls: the
// partial-order reduction must not explore their orders (tests/reduction.rs).
//
// The vault: `<store>/.vault/key` (64 hex characters; created whole by linking a fsynced
// temp file, so a racing reader never sees it half-written; the loser reads the winner's) and
// `<store>/secrets/<hex name>` (JSON, replaced atomically). With the argument
// `excl-then-write`, the key file is created empty with O_EXCL and written after, and a
// racing reader that finds it takes what it reads: seed 003's bug, for the reduction to catch.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

const KEY_BYTES = 64;
const BROKEN = process.argv[2] === "excl-then-write";

/** The path as a vault resolves it: through realpath of its deepest existing directory. */
function resolved(file) {
  let dir = path.dirname(file);
  const rest = [path.basename(file)];
  while (!fs.existsSync(dir)) {
    rest.unshift(path.basename(dir));
    dir = path.dirname(dir);
  }
  return path.join(fs.realpathSync(dir), ...rest);
}

function fsyncDir(dir) {
  const fd = fs.openSync(dir, "r");
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

function writeWhole(file, data) {
  const fd = fs.openSync(file, "wx", 0o600);
  try { fs.writeFileSync(fd, data); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/** The vault's key, created by the first caller. */
function key(store) {
  const dir = resolved(path.join(store, ".vault", "x"));
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const file = resolved(path.join(store, ".vault", "key"));
  if (BROKEN) {
    try {
      writeWhole(file, "");
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
      const found = fs.readFileSync(file, "utf8");
      if (found.length !== KEY_BYTES) throw new Error(`the key file holds ${found.length} bytes`);
      return found;
    }
    const k = randomBytes(KEY_BYTES / 2).toString("hex");
    fs.writeFileSync(file, k);
    return k;
  }
  for (;;) {
    if (fs.existsSync(file) && fs.statSync(file).size === KEY_BYTES) {
      return fs.readFileSync(file, "utf8");
    }
    const tmp = `${file}.tmp-${process.pid}`;
    writeWhole(tmp, randomBytes(KEY_BYTES / 2).toString("hex"));
    try {
      fs.linkSync(tmp, file);
      fsyncDir(path.dirname(file));
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
}

function secretFile(store, name) {
  return resolved(path.join(store, "secrets", Buffer.from(name, "utf8").toString("hex")));
}

function handle(req) {
  const k = key(req.store);
  const keyId = createHash("sha256").update(k).digest("hex").slice(0, 16);
  const file = secretFile(req.store, req.name);
  if (req.op === "put") {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    fs.rmSync(tmp, { force: true });
    writeWhole(tmp, JSON.stringify({ name: req.name, value: req.value }));
    fs.renameSync(tmp, file);
    fsyncDir(path.dirname(file));
    return { key_id: keyId };
  }
  if (req.op === "get") {
    if (!fs.existsSync(file)) return { value: null, key_id: keyId };
    const rec = JSON.parse(fs.readFileSync(file, "utf8"));
    return { value: rec.value, key_id: keyId };
  }
  throw Object.assign(new Error(`no op ${req.op}`), { code: "UNSUPPORTED_OP" });
}

const send = (msg) => fs.writeSync(1, JSON.stringify(msg) + "\n");
send({ protocol: "keyrace-adapter/1", name: "noisy vault", ops: ["put", "get"] });
for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  const req = JSON.parse(line);
  let reply;
  try { reply = { ok: true, ...handle(req) }; } catch (e) {
    reply = { ok: false, code: e.code === "UNSUPPORTED_OP" ? e.code : "IO", message: String(e?.message ?? e) };
  }
  send({ id: req.id, ...reply });
}
