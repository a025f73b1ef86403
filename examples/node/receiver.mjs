#!/usr/bin/env node
// A Sandforge webhook receiver for Node 20+, standard library only.
//
// With WEBHOOK_SECRET set, every delivery must pass BOTH signature schemes of
// docs/webhooks.md (Standard Webhooks `webhook-signature` and the Stripe-style
// `X-Sandforge-Signature`) and carry timestamps within 300 s of our clock, or it
// is answered 401.  Verified events are de-duplicated on `webhook-id` (retries
// reuse it), printed as one line each, and answered 204 at once: do slow work
// after answering, or the sender's timeout turns it into a retry.
//
//     WEBHOOK_SECRET=whsec_... PORT=9000 node examples/node/receiver.mjs
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const SECRET = process.env.WEBHOOK_SECRET ?? "";
const PORT = Number(process.env.PORT || "9000");
const TOLERANCE_SECONDS = 300;
const MAX_BODY = 1024 * 1024; // Sandforge payloads are a few KiB; refuse more
const SEEN_CAPACITY = 10_000; // remember this many recent webhook-ids

if (!Number.isInteger(PORT) || PORT < 1 || PORT > 65535) {
  console.error("PORT must be a number between 1 and 65535");
  process.exit(2);
}

// Standard Webhooks key: the base64-decoded part after "whsec_", or the raw
// secret without that prefix.  The Stripe-style scheme uses the secret as given.
let standardKey = Buffer.from(SECRET);
if (SECRET.startsWith("whsec_")) {
  const b64 = SECRET.slice(6);
  standardKey = Buffer.from(b64, "base64");
  // Buffer.from() skips characters it does not understand; insist on clean base64.
  if (standardKey.length === 0 || standardKey.toString("base64") !== b64) {
    console.error("WEBHOOK_SECRET: the part after whsec_ must be base64");
    process.exit(2);
  }
}

// Recently seen webhook-ids.  A Set keeps insertion order, so the oldest id is
// the first one: evicting it makes this a bounded ring.  A real receiver keeps
// the ids in its database under a unique index, so they survive restarts.
const seen = new Set();
function firstSighting(id) {
  if (seen.has(id)) return false;
  seen.add(id);
  if (seen.size > SEEN_CAPACITY) seen.delete(seen.values().next().value);
  return true;
}

function fresh(ts) {
  if (!/^\d{1,18}$/.test(ts ?? "")) return false;
  return Math.abs(Date.now() / 1000 - Number(ts)) <= TOLERANCE_SECONDS;
}

// Constant-time string comparison (timingSafeEqual needs equal lengths, and
// the expected length is public anyway).
function same(a, b) {
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// Standard Webhooks: "v1,<base64>" entries separated by spaces (one per active
// secret while a secret is being rotated) over "<id>.<timestamp>.<body>".
function standardSignatureOk(id, ts, body, header) {
  const want = createHmac("sha256", standardKey).update(`${id}.${ts}.`).update(body).digest("base64");
  let ok = false;
  for (const entry of header.split(" ")) {
    if (entry.startsWith("v1,") && same(entry.slice(3), want)) ok = true;
  }
  return ok;
}

// Sandforge / Stripe style: "t=<unix seconds>,v1=<hex>[,v1=<hex>...]" over "<t>.<body>".
function sandforgeSignatureError(header, body) {
  const items = header
    .split(",")
    .filter((p) => p.includes("="))
    .map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]);
  const t = items.find(([k]) => k === "t")?.[1];
  if (t === undefined) return "X-Sandforge-Signature has no t=";
  if (!fresh(t)) return "X-Sandforge-Signature t= is outside the 300 s window";
  const want = createHmac("sha256", SECRET).update(`${t}.`).update(body).digest("hex");
  let ok = false;
  for (const [k, v] of items) if (k === "v1" && same(v, want)) ok = true;
  return ok ? null : "bad X-Sandforge-Signature";
}

// null when the delivery is authentic and fresh, else why it is not.
function verify(h, body) {
  const id = h["webhook-id"], ts = h["webhook-timestamp"];
  const stdSig = h["webhook-signature"], sfSig = h["x-sandforge-signature"];
  if (!id || !ts || !stdSig || !sfSig) return "missing webhook-id, webhook-timestamp or a signature header";
  if (!fresh(ts)) return "webhook-timestamp is outside the 300 s window";
  if (!standardSignatureOk(id, ts, body, stdSig)) return "bad webhook-signature";
  return sandforgeSignatureError(sfSig, body);
}

// Untrusted text without control characters, so a payload cannot forge log lines.
const clean = (s) => String(s ?? "-").replace(/[\x00-\x1f\x7f]/g, "?");

function printEvent(ev, id, attempt) {
  const extras = ["reason", "resource", "syscall", "command"]
    .filter((k) => ev.data && typeof ev.data === "object" && k in ev.data)
    .map((k) => ` ${k}=${JSON.stringify(ev.data[k])}`)
    .join("");
  const name = clean(typeof ev.event === "string" ? ev.event : "-").padEnd(20);
  const str = (v) => clean(typeof v === "string" ? v : "-");
  process.stdout.write(
    `${str(ev.timestamp)} ${name} id=${clean(id)} sandbox=${str(ev.sandbox_id)} ` +
      `attempt=${clean(attempt)} verified=${SECRET ? "yes" : "no secret"}${extras}\n`,
  );
}

function reply(res, status, headers = {}) {
  res.writeHead(status, { ...headers, "Content-Length": "0" }).end();
}

function reject(h, res, status, why) {
  process.stdout.write(`REJECTED delivery ${clean(h["x-sandforge-delivery"])}: ${why}\n`);
  reply(res, status);
}

// The whole body has arrived: verify, answer, then print.
function handleDelivery(req, res, body) {
  const h = req.headers; // lower-cased by node:http
  if (SECRET) {
    const why = verify(h, body);
    if (why) return reject(h, res, 401, why);
  }
  let ev;
  try {
    ev = JSON.parse(body.toString("utf8"));
  } catch {
    ev = null;
  }
  if (ev === null || typeof ev !== "object" || Array.isArray(ev)) {
    return reject(h, res, 400, "body is not a JSON object");
  }
  // Without a secret the header may be absent; fall back to the payload's id.
  const id = h["webhook-id"] ?? (typeof ev.id === "string" ? ev.id : undefined);
  const isNew = id === undefined || firstSighting(id);
  reply(res, 204);
  // A duplicate is a retry of something already handled: acknowledge only.
  if (isNew) printEvent(ev, id, h["x-sandforge-attempt"]);
}

const server = createServer((req, res) => {
  if (req.method !== "POST") return reply(res, 405, { Allow: "POST" });
  if (Number(req.headers["content-length"] ?? 0) > MAX_BODY) {
    res.setHeader("Connection", "close"); // do not read it
    return reply(res, 413);
  }
  const chunks = [];
  let size = 0;
  let tooLarge = false;
  req.on("data", (chunk) => {
    // A chunked body has no Content-Length: keep counting, answer 413 at the end.
    size += chunk.length;
    if (size > MAX_BODY) tooLarge = true;
    else chunks.push(chunk);
  });
  req.on("end", () => (tooLarge ? reply(res, 413) : handleDelivery(req, res, Buffer.concat(chunks))));
  req.on("error", () => res.destroy());
});
server.requestTimeout = 30_000;

if (!SECRET) console.error("warning: WEBHOOK_SECRET is not set; signatures are not checked");
server.on("error", (err) => {
  console.error(`cannot listen on 127.0.0.1:${PORT}: ${err.message}`);
  process.exit(1);
});
server.listen(PORT, "127.0.0.1", () => {
  process.stdout.write(`receiver listening on http://127.0.0.1:${PORT}/\n`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
