#!/usr/bin/env node
// check.js - decode every request the shim sent with an independent decoder.
//
// The decoder is the official generated protobuf code shipped in the npm
// package @opentelemetry/otlp-transformer (pinned to 0.215.0 by package.json
// and package-lock.json; `npm ci` installs it): build/src/generated/root.js,
// type opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest.
//
// usage: node check.js DIR [DIR ...]
//   DIR is a test receiver's directory (tests/receiver/otlp_receiver.py):
//   NNNN.body is a request body as sent, NNNN.json its headers.
//
// For each complete request:
//   protobuf (gzip or not): gunzip here when Content-Encoding says so,
//     decode + verify, then check the OTLP rules the schema cannot express
//     (id lengths, times, unique attribute keys, names);
//   http/json: parse, turn the hex ids of the OTLP/JSON mapping into bytes,
//     fromObject + verify against the same schema, encode, decode, and
//     require the round trip to give back exactly the original document (so
//     no field was misspelt, mistyped or unknown to the schema).
// Prints one summary line; exits 1 at the first failure, with the reason.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const rootPath = path.join(__dirname, 'node_modules', '@opentelemetry', 'otlp-transformer',
  'build', 'src', 'generated', 'root.js');
if (!fs.existsSync(rootPath)) {
  console.error(`check.js: ${rootPath} is missing; run "npm ci" in ${__dirname}`);
  process.exit(2);
}
const root = require(rootPath);
const Req = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

let failures = 0;
const stats = { requests: 0, protobuf: 0, gzip: 0, json: 0, spans: 0 };

function fail(where, msg) {
  console.error(`check.js: ${where}: ${msg}`);
  failures++;
}

function header(meta, name) {
  for (const [k, v] of meta.headers) if (k.toLowerCase() === name) return v;
  return undefined;
}

function hex(b) {
  return Buffer.from(b).toString('hex');
}

function checkAttrs(where, attrs) {
  const seen = new Set();
  for (const a of attrs || []) {
    if (!a.key) return fail(where, 'attribute without a key');
    if (seen.has(a.key)) return fail(where, `duplicate attribute key ${a.key}`);
    seen.add(a.key);
    if (!a.value) return fail(where, `attribute ${a.key} without a value`);
  }
}

function checkRequest(where, msg) {
  if (!msg.resourceSpans || msg.resourceSpans.length === 0) return fail(where, 'no resourceSpans');
  for (const rs of msg.resourceSpans) {
    const res = rs.resource;
    if (!res) return fail(where, 'no resource');
    checkAttrs(`${where} resource`, res.attributes);
    const names = new Set((res.attributes || []).map((a) => a.key));
    for (const k of ['service.name', 'telemetry.sdk.name', 'process.pid']) {
      if (!names.has(k)) fail(where, `resource lacks ${k}`);
    }
    for (const ss of rs.scopeSpans || []) {
      if (!ss.scope || ss.scope.name !== 'otcshim') fail(where, 'scope is not otcshim');
      for (const s of ss.spans || []) {
        const w = `${where} span ${s.name}`;
        stats.spans++;
        if (!s.traceId || s.traceId.length !== 16 || hex(s.traceId) === '0'.repeat(32)) fail(w, 'bad trace id');
        if (!s.spanId || s.spanId.length !== 8 || hex(s.spanId) === '0'.repeat(16)) fail(w, 'bad span id');
        if (s.parentSpanId && s.parentSpanId.length !== 0 && s.parentSpanId.length !== 8) fail(w, 'bad parent id');
        if (!s.name) fail(w, 'empty name');
        const t0 = BigInt(s.startTimeUnixNano.toString());
        const t1 = BigInt(s.endTimeUnixNano.toString());
        if (t0 === 0n || t1 < t0) fail(w, `bad times ${t0} ${t1}`);
        checkAttrs(w, s.attributes);
        for (const e of s.events || []) checkAttrs(`${w} event`, e.attributes);
        for (const l of s.links || []) {
          if (!l.traceId || l.traceId.length !== 16 || !l.spanId || l.spanId.length !== 8) fail(w, 'bad link ids');
          checkAttrs(`${w} link`, l.attributes);
        }
      }
    }
  }
}

// OTLP/JSON: ids are hex strings; protobufjs's fromObject wants bytes.
const ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);
function idsToBytes(v) {
  if (Array.isArray(v)) return v.map(idsToBytes);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) {
      o[k] = ID_KEYS.has(k) && typeof x === 'string' ? Buffer.from(x, 'hex') : idsToBytes(x);
    }
    return o;
  }
  return v;
}
function bytesToHex(v) {
  if (Array.isArray(v)) return v.map(bytesToHex);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = ID_KEYS.has(k) ? hex(x) : bytesToHex(x);
    return o;
  }
  return v;
}
function same(a, b, p) {
  if (typeof a === 'number' || typeof b === 'number') {
    if (Number(a) !== Number(b)) return `${p}: ${a} != ${b}`;
    return null;
  }
  if (typeof a !== typeof b) return `${p}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`;
  if (a && typeof a === 'object') {
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    if (ka.join() !== kb.join()) return `${p}: keys {${ka}} != {${kb}}`;
    for (const k of ka) {
      const d = same(a[k], b[k], `${p}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${p}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`;
}

function checkOne(dir, name) {
  const base = path.join(dir, name.slice(0, -5));
  const meta = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8'));
  if (!meta.complete) return; // cut short by a fault mode on purpose
  const where = `${base}.body`;
  let body = fs.readFileSync(`${base}.body`);
  stats.requests++;
  if ((header(meta, 'content-encoding') || '').toLowerCase() === 'gzip') {
    stats.gzip++;
    try {
      body = zlib.gunzipSync(body);
    } catch (e) {
      return fail(where, `gunzip: ${e.message}`);
    }
  }
  const ctype = header(meta, 'content-type') || '';
  if (ctype === 'application/x-protobuf') {
    stats.protobuf++;
    let msg;
    try {
      msg = Req.decode(body);
    } catch (e) {
      return fail(where, `decode: ${e.message}`);
    }
    const err = Req.verify(msg);
    if (err) return fail(where, `verify: ${err}`);
    checkRequest(where, msg);
  } else if (ctype === 'application/json') {
    stats.json++;
    let doc;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return fail(where, `JSON: ${e.message}`);
    }
    const msg = Req.fromObject(idsToBytes(doc));
    const err = Req.verify(msg);
    if (err) return fail(where, `verify: ${err}`);
    const back = bytesToHex(Req.toObject(Req.decode(Req.encode(msg).finish()),
      { longs: String, enums: Number, bytes: Array }));
    const d = same(doc, back, 'request');
    if (d) return fail(where, `JSON does not round-trip through the schema: ${d}`);
    checkRequest(where, msg);
  } else {
    fail(where, `unexpected Content-Type ${ctype}`);
  }
}

const dirs = process.argv.slice(2);
if (!dirs.length) {
  console.error('usage: node check.js DIR [DIR ...]');
  process.exit(2);
}
for (const dir of dirs) {
  for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) checkOne(dir, name);
}
console.log(`checked ${stats.requests} requests (${stats.protobuf} protobuf, ${stats.gzip} gzip, ` +
  `${stats.json} json), ${stats.spans} spans, ${failures} failures`);
process.exit(failures || !stats.requests ? 1 : 0);
