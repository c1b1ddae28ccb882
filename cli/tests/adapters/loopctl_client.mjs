#!/usr/bin/env node
// A keyrace-adapter/1 adapter whose only op is a witness client that speaks loopctl's wire
// and nothing else (seed 002's MCP-server client, as its PR describes it): it sends
// X-Loopctl-Last-Known-STH, marks a bootstrap with X-Loopctl-STH-Bootstrap: true, reads the
// head from x-loopctl-current-sth, and reads refusals as {"error": {"code": "witness_..."}}.
// It keeps the head in a 0600 state file keyed by sha256(url + ":" + key), written to an O_EXCL
// temp file and renamed over the name (never through a link), loaded only from a regular file
// of ours; it retries a 412 witness_bootstrap_already_consumed once with the head it carries,
// never a 409 witness_divergence, and coalesces concurrent cold starts into one bootstrap.
//
//   node loopctl_client.mjs               correct
//   node loopctl_client.mjs memory-only   the bug seed 002 fixed: the head is kept in memory
//                                         only, so every fresh process bootstraps again
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

const MEMORY_ONLY = process.argv[2] === "memory-only";
const HEAD = /^(0|[1-9][0-9]{0,19}):[A-Za-z0-9_-]{21}[AQgw]$/;
const validHead = (h) => typeof h === "string" && HEAD.test(h) && BigInt(h.split(":")[0]) < 2n ** 64n;

class Coded extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

function fsyncDir(dir) {
  const fd = fs.openSync(dir, "r");
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

function loadHead(file) {
  let fd;
  try { fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK); }
  catch { return null; }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== process.getuid()) return null;
    const head = JSON.parse(fs.readFileSync(fd, "utf8")).sth;
    return validHead(head) ? head : null;
  } catch { return null; } finally { fs.closeSync(fd); }
}

function storeHead(file, head) {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(8).toString("hex")}`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try { fs.writeSync(fd, JSON.stringify({ version: 1, sth: head })); fs.fsyncSync(fd); }
  finally { fs.closeSync(fd); }
  fs.renameSync(tmp, file);
  fsyncDir(dir);
}

class Client {
  constructor(url, key, cacheDir) {
    this.url = url.replace(/\/+$/, "") + "/v1/witness";
    this.key = key;
    this.file = path.join(cacheDir, "loopctl-mcp-sth-" + createHash("sha256").update(`${url}:${key}`).digest("hex").slice(0, 32) + ".json");
    this.head = null;
    this.loaded = false;
    this.leader = null; // the cold start in flight, which the others wait for
  }

  async send(head) {
    const headers = { Authorization: `Bearer ${this.key}` };
    if (head) headers["X-Loopctl-Last-Known-STH"] = head;
    else headers["X-Loopctl-STH-Bootstrap"] = "true";
    let response, body;
    try {
      response = await fetch(this.url, { method: "POST", headers, body: "", signal: AbortSignal.timeout(3000) });
      body = await response.text();
    } catch (e) {
      throw new Coded("IO", `cannot reach the witness server: ${e.message}`);
    }
    let code = null;
    try { code = JSON.parse(body)?.error?.code ?? null; } catch { /* not a refusal body */ }
    const current = response.headers.get("x-loopctl-current-sth");
    const carried = validHead(current) && [200, 409, 412].includes(response.status) ? current : null;
    return { status: response.status, code, carried };
  }

  learn(head) {
    if (head === this.head) return;
    this.head = head;
    if (MEMORY_ONLY) return;
    try { storeHead(this.file, head); } catch { /* an unwritable state file is no state file */ }
  }

  async attempt(head) {
    for (const attempt of [1, 2]) {
      const { status, code, carried } = await this.send(head);
      if (carried) this.learn(carried);
      if (status === 200) return;
      if (status === 409) throw new Coded("DIVERGENCE", `the server does not hold STH ${head}; not retried`);
      if (status === 412 && code === "witness_bootstrap_already_consumed") {
        if (attempt === 1 && carried) { head = carried; continue; }
        throw new Coded("BOOTSTRAP_ALREADY_CONSUMED", "the bootstrap grace is consumed and the retry did not pass");
      }
      throw new Coded("IO", `the witness server answered ${status}`);
    }
  }

  async call() {
    if (!this.loaded) {
      this.loaded = true;
      if (!MEMORY_ONLY) this.head = loadHead(this.file);
    }
    while (this.head === null && this.leader) {
      try { await this.leader; } catch { /* the leader's failure is its own */ }
    }
    if (this.head !== null) return this.attempt(this.head);
    this.leader = this.attempt(null);
    try { await this.leader; } finally { this.leader = null; }
  }
}

async function witness(req) {
  const client = new Client(req.url, req.api_key, req.cache_dir);
  const calls = Math.max(1, Math.min(Number(req.concurrency) || 1, 64));
  const cached = calls === 1 && !MEMORY_ONLY ? loadHead(client.file) : null;
  const results = await Promise.allSettled(Array.from({ length: calls }, () => client.call()));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  return calls === 1 && !MEMORY_ONLY ? { head: cached, from_cache: cached !== null } : {};
}

const send = (msg) => fs.writeSync(1, JSON.stringify(msg) + "\n");
send({ protocol: "keyrace-adapter/1", name: `loopctl-wire witness client${MEMORY_ONLY ? " (memory-only)" : ""}`, ops: ["witness"] });
for await (const line of readline.createInterface({ input: process.stdin })) {
  const req = JSON.parse(line);
  let reply;
  try {
    if (req.op !== "witness") throw new Coded("UNSUPPORTED_OP", `no op ${req.op}`);
    reply = { ok: true, ...(await witness(req)) };
  } catch (e) {
    reply = { ok: false, code: e instanceof Coded ? e.code : "IO", message: String(e.message) };
  }
  send({ id: req.id, ...reply });
}
