'use strict';
// Workload 1 for bench/corpus/snapshot: a node process with a realistic, warm JS heap:
// ~150k JSON-like records with Map indexes, Float64Array series and ~30 MB of text
// read from files under /usr. Prints READY on stdout when warm, then idles until killed
// (or until its parent goes away). Args: [--scale X] (multiplies all sizes).
const fs = require('node:fs');
const path = require('node:path');

const scale = Number(argValue('--scale', '1'));
const TEXT_BYTES = Math.round(30 * 1024 * 1024 * scale);
const RECORDS = Math.round(150000 * scale);
const SERIES = Math.max(1, Math.round(16 * scale));
const SERIES_LEN = 96 * 1024;

function argValue(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

// Deterministic PRNG (mulberry32) so runs are comparable.
let seed = 0x9e3779b9;
function rnd() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];

// --- text from /usr ---------------------------------------------------------------
const TEXT_EXT = new Set(['.js', '.cjs', '.mjs', '.ts', '.json', '.md', '.txt', '.html', '.css', '.xml', '.py', '.pl', '.pm', '.sh', '.conf', '.yml', '.yaml', '.c', '.h', '.rst', '']);
const texts = [];
let textBytes = 0;
function walk(dir, depth) {
  if (textBytes >= TEXT_BYTES || depth > 12) return;
  let ents;
  try {
    ents = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  ents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of ents) {
    if (textBytes >= TEXT_BYTES) return;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      walk(p, depth + 1);
      continue;
    }
    if (!e.isFile() || !TEXT_EXT.has(path.extname(e.name))) continue;
    let buf;
    try {
      const st = fs.statSync(p);
      if (st.size < 64 || st.size > 2 * 1024 * 1024) continue;
      buf = fs.readFileSync(p);
    } catch {
      continue;
    }
    if (buf.subarray(0, 8192).includes(0)) continue; // binary
    texts.push({ path: p, text: buf.toString('utf8') });
    textBytes += buf.length;
  }
}
for (const root of ['/usr/lib/node_modules', '/usr/share']) walk(root, 0);

// Vocabulary from the text, for realistic strings in records.
const words = [];
{
  const seen = new Set();
  for (const t of texts) {
    for (const w of t.text.slice(0, 20000).match(/[A-Za-z][A-Za-z_]{2,14}/g) || []) {
      if (!seen.has(w)) {
        seen.add(w);
        words.push(w);
      }
      if (words.length >= 40000) break;
    }
    if (words.length >= 40000) break;
  }
  if (words.length === 0) words.push('alpha', 'beta', 'gamma', 'delta');
}

// --- records + indexes ------------------------------------------------------------
const cities = ['Berlin', 'Paris', 'Lisbon', 'Oslo', 'Austin', 'Osaka', 'Lagos', 'Lima', 'Pune', 'Perth'];
const records = [];
const byId = new Map();
const byEmail = new Map();
const byTag = new Map();
const t0 = Date.UTC(2020, 0, 1);
for (let i = 0; i < RECORDS; i++) {
  const first = pick(words),
    last = pick(words);
  const tags = [pick(words), pick(words), pick(words)].slice(0, 1 + Math.floor(rnd() * 3));
  const rec = {
    id: i,
    uuid:
      Math.floor(rnd() * 2 ** 32)
        .toString(16)
        .padStart(8, '0') +
      '-' +
      Math.floor(rnd() * 2 ** 16)
        .toString(16)
        .padStart(4, '0') +
      '-4' +
      Math.floor(rnd() * 2 ** 12)
        .toString(16)
        .padStart(3, '0'),
    name: first + ' ' + last,
    email: (first + '.' + last + i).toLowerCase() + '@example.org',
    createdAt: new Date(t0 + Math.floor(rnd() * 1.5e11)).toISOString(),
    active: rnd() < 0.8,
    score: Math.round(rnd() * 100000) / 100,
    tags,
    address: { street: `${1 + Math.floor(rnd() * 999)} ${pick(words)} St`, city: pick(cities), zip: String(10000 + Math.floor(rnd() * 89999)) },
    history: Array.from({ length: Math.floor(rnd() * 6) }, () => Math.floor(rnd() * 1000)),
  };
  records.push(rec);
  byId.set(rec.id, rec);
  byEmail.set(rec.email, rec);
  for (const t of tags) {
    let l = byTag.get(t);
    if (!l) byTag.set(t, (l = []));
    l.push(rec.id);
  }
}
// Some records also kept serialized, as a cache would.
const jsonCache = [];
for (let i = 0; i < records.length; i += 10) jsonCache.push(JSON.stringify(records[i]));

// --- numeric series ----------------------------------------------------------------
const series = [];
for (let s = 0; s < SERIES; s++) {
  const a = new Float64Array(SERIES_LEN);
  let v = 100 * rnd();
  for (let i = 0; i < SERIES_LEN; i++) {
    v += (rnd() - 0.5) * 0.5 + Math.sin(i / (50 + s)) * 0.01;
    a[i] = s % 3 === 0 ? Math.round(v * 100) / 100 : v; // some series quantised
  }
  series.push(a);
}

globalThis.__keep = { texts, records, byId, byEmail, byTag, jsonCache, series };
process.stdout.write(`READY node-heap records=${records.length} textMiB=${(textBytes / 1048576).toFixed(1)} ` + `files=${texts.length} series=${series.length}\n`);

// Idle until killed; exit if the parent disappears or after an hour.
const ppid = process.ppid;
const started = Date.now();
setInterval(() => {
  if (process.ppid !== ppid || Date.now() - started > 3600e3) process.exit(0);
}, 500);
