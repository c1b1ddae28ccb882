#!/usr/bin/env node
// A keyrace-adapter/1 adapter (Node's standard library only, ESM) for a tiny file-based store,
// as an example: the JavaScript twin of adapter.py, runs unchanged under Node, Bun and Deno.
//
// The store is a directory: `store.json` ({"format": 1}) and `secrets/<hex name>`, one JSON
// file per secret with a SHA-256 of its value, each replaced atomically (temp, fsync, rename,
// fsync dir). Check it: keyrace check --adapter node examples/adapter.mjs
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

/** An error with its keyrace code (docs/protocol.md). */
class Coded extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) { super(message); this.code = code; }
}

/** @param {unknown} value */
const sha = (value) => typeof value === "string" ? createHash("sha256").update(value).digest("hex") : null;

/** @param {string} dir */
function fsyncDir(dir) {
  const fd = fs.openSync(dir, "r");
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

/** @param {string} file @param {string} data */
function writeAtomic(file, data) {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, "w", 0o600);
  try { fs.writeFileSync(fd, data); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  fs.renameSync(tmp, file); fsyncDir(path.dirname(file));
}

/** The secrets directory of the store at `store`, created if absent. @param {string} store @returns {string} */
function openStore(store) {
  const meta = path.join(store, "store.json"), secrets = path.join(store, "secrets");
  let text;
  try { text = fs.readFileSync(meta, "utf8"); } catch (e) {
    if (e.code !== "ENOENT") throw e;
    if (fs.existsSync(secrets) && fs.readdirSync(secrets).length > 0) {
      // A racing creator publishes store.json before any secret: look again first.
      if (fs.existsSync(meta)) return openStore(store);
      throw new Coded("METADATA_MISSING", `${meta} is missing; destroy the store to start over`);
    }
    fs.mkdirSync(secrets, { recursive: true });
    fsyncDir(path.dirname(path.resolve(store))); // the store's own name, durably
    writeAtomic(meta, '{"format": 1}'); // racing creators all write the same bytes
    return secrets;
  }
  let format;
  try { format = JSON.parse(text)?.format; } catch (e) {
    throw new Coded("METADATA_CORRUPTED", `${meta} is corrupted (${e.message}); destroy the store to start over`);
  }
  if (format !== 1) throw new Coded("UNSUPPORTED_VERSION", `${meta} has format ${JSON.stringify(format)}, this adapter reads 1`);
  fsyncDir(store); // a racing creator may not have made store.json durable yet: nothing before
  return secrets;
}

/** Empty the store without opening it (it may be damaged); never a directory not ours. @param {string} store */
function clearStore(store) {
  const isDir = (p) => fs.lstatSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
  const names = isDir(store) ? fs.readdirSync(store) : [];
  const secrets = path.join(store, "secrets");
  const ours = (n) => /^[0-9a-f]*$/.test(n.split(".tmp-")[0]);
  const fine = (n) => n === "store.json" || n.startsWith("store.json.tmp-")
    || (n === "secrets" && isDir(secrets) && fs.readdirSync(secrets).every(ours));
  if (!names.every(fine)) throw new Coded("INVALID_ARGUMENT", `${store} does not look like a store; refusing to delete it`);
  for (const name of names) fs.rmSync(path.join(store, name), { recursive: true });
  return names;
}

/** @param {{op: string, store: string, name?: string, value?: string, token?: string}} req */
function handle(req) {
  const { op, store } = req;
  if (op === "destroy" || op === "reset") {
    const names = clearStore(store);
    if (op === "destroy" && fs.existsSync(store)) fs.rmdirSync(store);
    else if (names.length > 0) fsyncDir(store);
    return {};
  }
  if (op === "consume") {
    fs.mkdirSync(store, { recursive: true }); fsyncDir(path.dirname(path.resolve(store)));
    const marker = path.join(store, createHash("sha256").update(req.token).digest("hex"));
    let fd;
    try { fd = fs.openSync(marker, "wx", 0o600); } catch (e) {
      if (e.code === "EEXIST") { fsyncDir(store); return { won: false }; } // the winner's marker, durably
      throw e;
    }
    fs.fsyncSync(fd); fs.closeSync(fd); fsyncDir(store); return { won: true };
  }
  const secrets = openStore(store);
  if (op === "open") return {};
  const file = path.join(secrets, Buffer.from(req.name, "utf8").toString("hex"));
  if (op === "put") {
    writeAtomic(file, JSON.stringify({ name: req.name, value: req.value, sha256: sha(req.value) }));
    return {};
  }
  if (op === "delete") {
    fs.rmSync(file, { force: true }); fsyncDir(secrets); return {};
  }
  if (op === "get") {
    let rec;
    try { rec = JSON.parse(fs.readFileSync(file, "utf8")); } catch (e) {
      if (e.code === "ENOENT") return { value: null };
      rec = null;
    }
    if (rec === null || typeof rec !== "object" || rec.name !== req.name || sha(rec.value) !== rec.sha256) {
      throw new Coded("INTEGRITY_MISMATCH", `${file} is damaged; put the secret again`);
    }
    return { value: rec.value };
  }
  throw new Coded("UNSUPPORTED_OP", `no op ${JSON.stringify(op)}`);
}

/** A library's or the OS's error, as a keyrace code. @param {any} e */
function code(e) {
  if (e instanceof Coded) return e.code;
  return { EACCES: "PERMISSION_DENIED", EPERM: "PERMISSION_DENIED", ENOENT: "NOT_FOUND" }[e?.code] ?? "IO";
}

/** One line on stdout, written whole before the next request is read. @param {object} msg */
const send = (msg) => fs.writeSync(1, JSON.stringify(msg) + "\n");

send({ protocol: "keyrace-adapter/1", name: "javascript example file store",
  ops: ["open", "put", "get", "delete", "destroy", "reset", "consume"] });
for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  const req = JSON.parse(line);
  let reply;
  // toWellFormed: JSON.parse's message quotes the input and can cut a surrogate pair in two,
  // and a reply must be valid Unicode.
  try { reply = { ok: true, ...handle(req) }; } catch (e) { reply = { ok: false, code: code(e), message: String(e?.message ?? e).toWellFormed() }; }
  send({ id: req.id, ...reply });
}
