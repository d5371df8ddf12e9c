/**
 * Loaders for hosts.json and request traces (a JSON array, or CSV with a header row).
 * Every field is checked; a bad one throws a PagepressError (PP_ERR_FORMAT) whose message
 * names the file, the line (CSV) or index (JSON), and the field, e.g.
 * `trace.csv line 4: field "priority": expected an integer 1..4, found "7"`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { ErrorCodes, PagepressError } from '../errors';
import { HostSet, PrivateHost, PublicCloud, VmRequest, Workload, WORKLOADS } from './types';

/** Columns of a CSV trace, in the order `toCsv` writes them (dirtyRate may be left empty). */
export const REQUEST_FIELDS = ['id', 'arrival', 'cpus', 'memGiB', 'storageGiB', 'priority', 'deadline', 'runTime', 'workload', 'dirtyRate'] as const;

function fail(where: string, message: string): never {
  throw new PagepressError(`${where}: ${message}`, ErrorCodes.FORMAT, { record: where });
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

/** Reads field `key` of `obj` as a finite number in [min, max]; CSV text is converted. */
function num(obj: Record<string, unknown>, key: string, where: string, min: number, max = Number.MAX_SAFE_INTEGER, minExclusive = false): number {
  const raw = obj[key];
  const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  const range = `${minExclusive ? '>' : '>='} ${min}${max < Number.MAX_SAFE_INTEGER ? ` and <= ${max}` : ''}`;
  if (typeof v !== 'number' || !Number.isFinite(v) || (minExclusive ? v <= min : v < min) || v > max) fail(where, `field "${key}": expected a number ${range}, found ${show(raw)}`);
  return v;
}

function str(obj: Record<string, unknown>, key: string, where: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v.trim() === '') fail(where, `field "${key}": expected a non-empty string, found ${show(v)}`);
  return v.trim();
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks one request (from JSON or a CSV row); `where` prefixes every message. */
export function validateRequest(obj: unknown, where: string): VmRequest {
  if (!isRecord(obj)) fail(where, `expected an object with fields ${REQUEST_FIELDS.join(', ')}, found ${show(obj)}`);
  const priority = obj.priority;
  const p = typeof priority === 'string' ? Number(priority) : priority;
  if (p !== 1 && p !== 2 && p !== 3 && p !== 4) fail(where, `field "priority": expected an integer 1..4 (1 highest), found ${show(priority)}`);
  const workload = str(obj, 'workload', where);
  if (!(WORKLOADS as readonly string[]).includes(workload)) fail(where, `field "workload": expected one of ${WORKLOADS.join(', ')}, found ${show(workload)}`);
  const req: VmRequest = {
    id: str(obj, 'id', where),
    arrival: num(obj, 'arrival', where, 0),
    cpus: num(obj, 'cpus', where, 0, Number.MAX_SAFE_INTEGER, true),
    memGiB: num(obj, 'memGiB', where, 0, Number.MAX_SAFE_INTEGER, true),
    storageGiB: num(obj, 'storageGiB', where, 0),
    priority: p,
    deadline: num(obj, 'deadline', where, 0, Number.MAX_SAFE_INTEGER, true),
    runTime: num(obj, 'runTime', where, 0, Number.MAX_SAFE_INTEGER, true),
    workload: workload as Workload,
  };
  const dirty = obj.dirtyRate;
  if (dirty !== undefined && dirty !== null && dirty !== '') req.dirtyRate = num(obj, 'dirtyRate', where, 0);
  return req;
}

/** Ids must be unique: decisions and reports name requests by id. */
function checkUnique(reqs: VmRequest[], label: (i: number) => string): void {
  const seen = new Map<string, number>();
  reqs.forEach((r, i) => {
    const first = seen.get(r.id);
    if (first !== undefined) fail(label(i), `field "id": ${show(r.id)} repeats the id of ${label(first)}`);
    seen.set(r.id, i);
  });
}

/** Parses a JSON trace (an array of request objects). `file` names it in errors. */
export function parseRequestsJson(text: string, file: string): VmRequest[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    fail(file, `not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(data)) fail(file, `expected a JSON array of requests, found ${typeof data}`);
  const label = (i: number) => `${file} request [${i}]`;
  const reqs = data.map((o, i) => validateRequest(o, label(i)));
  checkUnique(reqs, label);
  return reqs;
}

/** Parses a CSV trace: a header row naming the columns (any order; dirtyRate optional). */
export function parseRequestsCsv(text: string, file: string): VmRequest[] {
  let rows: Array<{ record: string[]; info: { lines: number } }>;
  try {
    rows = parseCsv(text, { trim: true, skip_empty_lines: true, relax_column_count: true, info: true }) as unknown as typeof rows; // info: true gives {record, info}
  } catch (err) {
    const e = err as Error & { lines?: number };
    fail(`${file} line ${e.lines ?? '?'}`, `not valid CSV (${e.message})`);
  }
  if (rows.length === 0) fail(file, 'empty CSV: expected a header row');
  const header = rows[0].record;
  const headerWhere = `${file} line ${rows[0].info.lines}`;
  for (const f of REQUEST_FIELDS) {
    if (f !== 'dirtyRate' && !header.includes(f)) fail(headerWhere, `header has no column "${f}" (expected ${REQUEST_FIELDS.join(',')})`);
  }
  const unknown = header.find((h) => !(REQUEST_FIELDS as readonly string[]).includes(h));
  if (unknown !== undefined) fail(headerWhere, `unknown column ${show(unknown)}`);
  const where = (k: number) => `${file} line ${rows[k + 1].info.lines}`;
  const reqs = rows.slice(1).map(({ record: cells }, k) => {
    if (cells.length !== header.length) fail(where(k), `expected ${header.length} fields, found ${cells.length}`);
    const row: Record<string, unknown> = {};
    header.forEach((h, i) => (row[h] = cells[i]));
    return validateRequest(row, where(k));
  });
  checkUnique(reqs, where);
  return reqs;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new PagepressError(`${file}: cannot read (${e.code ?? e.message})`, ErrorCodes.FORMAT);
  }
}

/**
 * Loads a trace: CSV when the name ends in .csv, JSON otherwise.
 * @throws PagepressError PP_ERR_FORMAT naming the file, line or index, and field
 */
export function loadRequests(file: string): VmRequest[] {
  const text = readText(file);
  const name = path.basename(file);
  return /\.csv$/i.test(file) ? parseRequestsCsv(text, name) : parseRequestsJson(text, name);
}

function validateHost(obj: unknown, where: string): PrivateHost {
  if (!isRecord(obj)) fail(where, `expected an object {name, cpus, memGiB, storageGiB}, found ${show(obj)}`);
  return {
    name: str(obj, 'name', where),
    cpus: num(obj, 'cpus', where, 0, Number.MAX_SAFE_INTEGER, true),
    memGiB: num(obj, 'memGiB', where, 0, Number.MAX_SAFE_INTEGER, true),
    storageGiB: num(obj, 'storageGiB', where, 0),
  };
}

function validatePublic(obj: unknown, where: string): PublicCloud {
  if (!isRecord(obj)) fail(where, `expected an object {name, linkMbps, latencyMs, pricePerCpuHour}, found ${show(obj)}`);
  return {
    name: str(obj, 'name', where),
    linkMbps: num(obj, 'linkMbps', where, 0, Number.MAX_SAFE_INTEGER, true),
    latencyMs: num(obj, 'latencyMs', where, 0),
    pricePerCpuHour: num(obj, 'pricePerCpuHour', where, 0),
  };
}

/** Parses hosts.json text: `{ "hosts": [...], "public": {...} }`. */
export function parseHosts(text: string, file: string): HostSet {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    fail(file, `not valid JSON (${(err as Error).message})`);
  }
  if (!isRecord(data)) fail(file, 'expected an object {"hosts": [...], "public": {...}}');
  if (!Array.isArray(data.hosts) || data.hosts.length === 0) fail(file, `field "hosts": expected a non-empty array of hosts, found ${show(data.hosts)}`);
  const hosts = data.hosts.map((h, i) => validateHost(h, `${file} hosts[${i}]`));
  const names = new Set<string>();
  hosts.forEach((h, i) => {
    if (names.has(h.name)) fail(`${file} hosts[${i}]`, `field "name": ${show(h.name)} is used twice`);
    names.add(h.name);
  });
  return { hosts, public: validatePublic(data.public, `${file} public`) };
}

/**
 * Loads hosts.json.
 * @throws PagepressError PP_ERR_FORMAT naming the file, host index and field
 */
export function loadHosts(file: string): HostSet {
  return parseHosts(readText(file), path.basename(file));
}

/** Writes a trace as CSV (the format parseRequestsCsv reads). */
export function toCsv(reqs: readonly VmRequest[]): string {
  return stringifyCsv(
    reqs.map((r) => ({ ...r })),
    { header: true, columns: [...REQUEST_FIELDS] },
  );
}
