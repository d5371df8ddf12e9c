/**
 * The `--guest` spec: one string naming a guest and its options, e.g.
 * `sim:256M,workload=hotset,dirty-rate=20000`, `trace:run.trace,speed=2`, `file:vm.img`.
 * Parsing checks everything it can before anything is allocated or started.
 */
import { ErrorCodes, PagepressError } from '../../errors';
import { GUEST_LIMIT_NODE, GUEST_PAGE_SIZE, GuestMemory, MAX_GUEST_GIB, MAX_GUEST_PAGES } from '../guest';
import { FileGuest, FileGuestOptions } from './file-guest';
import { MAX_DIRTY_RATE, SimulatedGuest, SimulatedGuestOptions } from './simulated-guest';
import { TraceGuest, TraceGuestOptions } from './trace-guest';
import { isWorkloadName, WORKLOAD_NAMES } from './workloads';

/** The forms of a guest spec, for --help texts. */
export const GUEST_SPEC_HELP = [
  'sim:SIZE[,workload=idle|pagecache|hotset|inplace|webserver][,dirty-rate=PAGES_PER_S][,seed=N][,source=IMAGE]',
  'trace:FILE[,speed=X][,loop][,seed=N][,source=IMAGE][,default-bytes=N]',
  'file:IMAGE[,preload]',
].join('\n');

/** A parsed guest spec: its options and a factory. */
export type GuestSpec =
  | { kind: 'sim'; options: SimulatedGuestOptions; create(): Promise<SimulatedGuest> }
  | { kind: 'trace'; file: string; options: TraceGuestOptions; create(): Promise<TraceGuest> }
  | { kind: 'file'; file: string; options: FileGuestOptions; create(): Promise<FileGuest> };

/**
 * A size in bytes: digits with an optional binary suffix K, M, G or T (also KiB, MB...;
 * 1K = 1024). Throws PP_ERR_ARG naming `what`.
 */
export function parseSize(text: string, what = 'size'): number {
  const m = /^(\d+)(?:([KMGT])(?:i?B)?|B)?$/i.exec(text.trim());
  if (!m) throw new PagepressError(`${what} "${text}" is not a size (digits with an optional K, M, G or T suffix, e.g. 256M)`, ErrorCodes.ARG);
  const scale = m[2] ? 1024 ** ('KMGT'.indexOf(m[2].toUpperCase()) + 1) : 1;
  return Number(m[1]) * scale;
}

/** Parses a guest spec (see {@link GUEST_SPEC_HELP}); PP_ERR_ARG naming the bad part. */
export function parseGuestSpec(spec: string): GuestSpec {
  const fail = (message: string): never => {
    throw new PagepressError(`guest spec "${spec}": ${message}`, ErrorCodes.ARG);
  };
  if (typeof spec !== 'string') throw new PagepressError(`guest spec must be a string, got ${typeof spec}`, ErrorCodes.ARG);
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  if (colon < 0 || !['sim', 'trace', 'file'].includes(kind)) fail(`expected sim:SIZE, trace:FILE or file:IMAGE, got kind "${kind}"`);
  // Items are comma-separated; the first is the size or path (so a path cannot hold a comma).
  const [head, ...items] = spec.slice(colon + 1).split(',');
  if (head === '') fail(kind === 'sim' ? 'missing the size after "sim:" (e.g. sim:256M)' : `missing the file after "${kind}:"`);
  const allowed: Record<string, Record<string, 'value' | 'flag'>> = {
    sim: { workload: 'value', 'dirty-rate': 'value', seed: 'value', source: 'value' },
    trace: { speed: 'value', loop: 'flag', seed: 'value', source: 'value', 'default-bytes': 'value' },
    file: { preload: 'flag' },
  };
  const opts = new Map<string, string>();
  for (const item of items) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    const type = allowed[kind][key];
    if (key === '') fail(`empty option "${item}"`);
    if (!type) fail(`unknown option "${key}" for ${kind} (known: ${Object.keys(allowed[kind]).join(', ')})`);
    if (opts.has(key)) fail(`option "${key}" given twice`);
    if (type === 'flag' && eq >= 0) fail(`option "${key}" takes no value (got "${item}")`);
    if (type === 'value' && value === '') fail(`option "${key}" needs a value (${key}=...)`);
    opts.set(key, value);
  }
  const number = (key: string, min: number, max: number, integer: boolean): number | undefined => {
    const text = opts.get(key);
    if (text === undefined) return undefined;
    const ok = integer ? /^\d+$/.test(text) : /^\d+(\.\d+)?$/.test(text);
    const v = Number(text);
    if (!ok || v < min || v > max) fail(`${key} "${text}" is not ${integer ? 'an integer' : 'a number'} in ${min}..${max}`);
    return v;
  };
  const seed = number('seed', 0, 0xffffffff, true);
  const source = opts.get('source');
  switch (kind) {
    case 'sim': {
      let bytes = 0;
      try {
        bytes = parseSize(head, 'size');
      } catch (err) {
        fail((err as Error).message);
      }
      if (bytes === 0 || bytes % GUEST_PAGE_SIZE !== 0) fail(`size "${head}" is not a nonzero multiple of ${GUEST_PAGE_SIZE} bytes`);
      const pages = bytes / GUEST_PAGE_SIZE;
      if (pages > MAX_GUEST_PAGES) fail(`size "${head}" is above the limit of ${MAX_GUEST_GIB}G (${GUEST_LIMIT_NODE ? `one typed array on ${GUEST_LIMIT_NODE}` : 'pagepress'})`);
      const workload = opts.get('workload') ?? 'idle';
      if (!isWorkloadName(workload)) fail(`workload "${workload}" is not one of ${WORKLOAD_NAMES.join(', ')}`);
      const options: SimulatedGuestOptions = { pages, workload: workload as SimulatedGuestOptions['workload'], dirtyRate: number('dirty-rate', 0, MAX_DIRTY_RATE, false), seed, source };
      for (const k of Object.keys(options) as (keyof SimulatedGuestOptions)[]) if (options[k] === undefined) delete options[k];
      return { kind: 'sim', options, create: () => SimulatedGuest.create(options) };
    }
    case 'trace': {
      const speed = number('speed', 0, 1e6, false);
      if (speed === 0) fail('speed "0" must be above 0');
      const options: TraceGuestOptions = { speed, loop: opts.has('loop') || undefined, seed, source, defaultBytes: number('default-bytes', 0, GUEST_PAGE_SIZE, true) };
      for (const k of Object.keys(options) as (keyof TraceGuestOptions)[]) if (options[k] === undefined) delete options[k];
      return { kind: 'trace', file: head, options, create: () => TraceGuest.open(head, options) };
    }
    default: {
      const options: FileGuestOptions = opts.has('preload') ? { preload: true } : {};
      return { kind: 'file', file: head, options, create: () => FileGuest.open(head, options) };
    }
  }
}

/** Parses `spec` and creates the guest (close() it when done). */
export function openGuest(spec: string): Promise<GuestMemory> {
  return parseGuestSpec(spec).create();
}
