/**
 * Criterion C: the batch API (BatchEncoder/BatchDecoder on worker threads) against the
 * codecs called in-process on the main thread, over the same 4 MiB blocks of the same
 * bytes, measured with benchmark.js (one cycle = the whole input, so MB/s = input bytes x
 * hz; 10^6 uncompressed bytes per second in both directions). Setup (buffers, contexts,
 * encoders, the frames to decode) happens outside the timed functions.
 *
 * Subjects: BatchEncoder/BatchDecoder, threads 1, 4 calls outstanding, per codec (zstd 1,
 * lz4, deflate 1, none, auto). Baselines: Buffer.copy (memcpy), zlib deflateSync/inflateSync
 * level 1, lz4-napi compressSync/uncompressSync and compress/uncompress (async, 4
 * outstanding), zstd-napi/binding CCtx.compress2 / DCtx.decompress level 1 (reused
 * contexts). Also a sweep of outstanding calls and threads for zstd, and a profile of
 * where the time goes (worker busy time vs wall time, main-thread event-loop utilization).
 *
 *   node dist/bench/batch.bench.js [--quick] [--corpus F] [--zero-heavy F]
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { performance } from 'node:perf_hooks';
import Benchmark from 'benchmark';
import * as lz4 from 'lz4-napi';
import * as zstdBinding from 'zstd-napi/binding';
import { BatchDecoder, BatchEncoder, SyncBatchCodec } from '../lib';
import { CODEC_CHOICES } from '../lib';
import type { CodecChoice, EncoderOptions } from '../lib';
import { BenchOptions, benchMain, Criterion, criterion, fmt, inputs, MB, median, MiB, Table } from './common';

const BLOCK = 4 * MiB;
const DEPTH = 4;

type CodecName = CodecChoice;
const CODECS = CODEC_CHOICES;

interface Row {
  name: string;
  encodeMBps: number;
  encodeRme: number;
  decodeMBps: number;
  decodeRme: number;
  ratio: number;
  roundTrip: boolean;
  baseline: boolean;
}

interface PoolCounters {
  queued: number;
  done: number;
  busyMs: number;
}

/** The worker pool counters of an encoder or decoder (internal; for the profile only). */
function counters(x: BatchEncoder | BatchDecoder): PoolCounters | null {
  const engine = (x as unknown as { engine?: { pool?: { counters?: PoolCounters } } }).engine;
  return engine?.pool?.counters ?? null;
}

/** Encodes every block with up to `depth` calls outstanding; returns the frames. */
async function encodeAll(enc: BatchEncoder, blocks: Buffer[], depth: number, keep: boolean): Promise<{ frames: Buffer[]; bytes: number }> {
  const frames: Buffer[] = [];
  let bytes = 0;
  const inflight: Array<Promise<Buffer>> = [];
  const take = async (): Promise<void> => {
    const f = await inflight.shift()!;
    bytes += f.length;
    if (keep) frames.push(f);
  };
  for (const b of blocks) {
    inflight.push(enc.encode(b));
    if (inflight.length >= depth) await take();
  }
  while (inflight.length) await take();
  return { frames, bytes };
}

async function decodeAll(dec: BatchDecoder, frames: Buffer[], depth: number, check: Buffer[] | null): Promise<boolean> {
  let ok = true;
  let i = 0;
  const inflight: Array<Promise<{ pages: Buffer }>> = [];
  const take = async (): Promise<void> => {
    const d = await inflight.shift()!;
    if (check && !d.pages.equals(check[i])) ok = false;
    i++;
  };
  for (const f of frames) {
    const p = dec.decode(f);
    p.catch(() => undefined); // a failure surfaces through `take`; never as an unhandled rejection
    inflight.push(p);
    if (inflight.length >= depth) await take();
  }
  while (inflight.length) await take();
  return ok;
}

interface Timed {
  hz: number;
  rme: number;
  samples: number;
}

/** Runs one benchmark.js case (deferred when `fn` returns a promise). */
function bench(name: string, fn: () => void | Promise<unknown>, async: boolean, o: BenchOptions): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const options: Benchmark.Options = {
      minSamples: o.quick ? 1 : 4,
      maxTime: o.quick ? 0.2 : 3,
      initCount: 1,
      onError: (e: { target?: { error?: Error } }) => reject(e.target?.error ?? new Error(`${name} failed`)),
    };
    const b = async
      ? new Benchmark(name, {
          ...options,
          defer: true,
          fn: (d: Benchmark.Deferred) => {
            (fn() as Promise<unknown>).then(
              () => d.resolve(),
              (e: Error) => reject(e),
            );
          },
        })
      : new Benchmark(name, { ...options, fn });
    b.on('complete', () => {
      if (b.error) reject(b.error);
      else resolve({ hz: b.hz, rme: b.stats.rme, samples: b.stats.sample.length });
    });
    b.run({ async: true });
  });
}

function mbps(t: Timed, bytes: number): number {
  return (t.hz * bytes) / MB;
}

type Subject = Row & { profile: Record<string, number>; decodeProblem: string | null };

async function subject(codec: CodecName, blocks: Buffer[], total: number, o: BenchOptions, threads = 1, depth = DEPTH): Promise<Subject> {
  const opts: EncoderOptions = { threads, codec };
  if (codec === 'zstd' || codec === 'deflate') opts.level = 1;
  const enc = new BatchEncoder(opts);
  const dec = new BatchDecoder({ threads });
  try {
    // Untimed pass: the frames to decode, the ratio, the round-trip check, and a profile.
    const c0 = { ...(counters(enc) ?? { busyMs: NaN, done: NaN }) };
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    const { frames, bytes } = await encodeAll(enc, blocks, depth, true);
    const encWall = performance.now() - t0;
    const encElu = performance.eventLoopUtilization(elu0).utilization;
    const c1 = counters(enc) ? { ...counters(enc)! } : null;
    // BatchDecoder with several decode() calls outstanding: checked once in a throw-away
    // decoder; if it fails, decoding is measured with one call outstanding (see notes).
    let decDepth = depth;
    let decodeProblem: string | null = null;
    const probe = new BatchDecoder({ threads });
    // BatchDecoder.decode() leaves its result promise unhandled when write() throws; catch that here.
    let unhandled = 0;
    const swallow = (): void => {
      unhandled++;
    };
    process.on('unhandledRejection', swallow);
    try {
      if (!(await decodeAll(probe, frames, depth, blocks))) decodeProblem = 'wrong bytes';
    } catch (e) {
      decodeProblem = (e as Error).message;
    } finally {
      await probe.close().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
      process.off('unhandledRejection', swallow);
    }
    if (unhandled) decodeProblem = `${decodeProblem ?? ''}; ${unhandled} unhandled rejection(s) from BatchDecoder.decode`;
    if (decodeProblem) decDepth = 1;
    const d0 = { ...(counters(dec) ?? { busyMs: 0, done: 0 }) };
    const elu1 = performance.eventLoopUtilization();
    const t1 = performance.now();
    const roundTrip = await decodeAll(dec, frames, decDepth, blocks);
    const decWall = performance.now() - t1;
    const decElu = performance.eventLoopUtilization(elu1).utilization;
    const d1 = counters(dec) ? { ...counters(dec)! } : null;
    const label = `batch ${codec}${threads > 1 ? ` T${threads}` : ''}${depth !== DEPTH ? ` depth ${depth}` : ''}`;
    const te = await bench(`${label} encode`, () => encodeAll(enc, blocks, depth, false), true, o);
    const td = await bench(`${label} decode`, () => decodeAll(dec, frames, decDepth, null), true, o);
    const encBusy = c1 ? c1.busyMs - c0.busyMs : NaN;
    const decBusy = d1 ? d1.busyMs - (d0.busyMs ?? 0) : NaN;
    return {
      name: `BatchEncoder/Decoder ${codec}${codec === 'zstd' || codec === 'deflate' ? ' 1' : ''}, T${threads}, ${depth}${decDepth !== depth ? `/${decDepth}` : ''} outstanding`,
      decodeProblem,
      encodeMBps: mbps(te, total),
      encodeRme: te.rme,
      decodeMBps: mbps(td, total),
      decodeRme: td.rme,
      ratio: total / bytes,
      roundTrip,
      baseline: false,
      profile: {
        batches: blocks.length,
        encodeWallMs: encWall,
        encodeWorkerBusyMs: encBusy,
        encodeMainElu: encElu,
        decodeWallMs: decWall,
        decodeWorkerBusyMs: decBusy,
        decodeMainElu: decElu,
      },
    };
  } finally {
    await enc.close();
    await dec.close();
  }
}

/**
 * The batch API (zstd 1) against zstd-napi L1 on the main thread, timed in paired rounds:
 * each round runs one whole pass of each subject and of zstd-napi back to back, rotating
 * which goes first, and yields time(zstd-napi) / time(subject), the throughput ratio. The
 * subjects are BatchEncoder (one worker thread, DEPTH calls outstanding) and
 * SyncBatchCodec (the calling thread). The median over the rounds is what the C1/C1s and
 * C3/C3s criteria use: on a shared machine, drift between two benchmark.js cases measured
 * seconds apart hits only one side, while a round's passes share it.
 */
async function pairedZstdRatios(blocks: Buffer[], rounds: number): Promise<{ worker: PairedRatio; sync: PairedRatio }> {
  const enc = new BatchEncoder({ threads: 1, codec: 'zstd', level: 1 });
  const syncCodec = new SyncBatchCodec({ codec: 'zstd', level: 1 });
  const cctx = new zstdBinding.CCtx();
  cctx.setParameter(zstdBinding.CParameter.compressionLevel, 1);
  const zdst = Buffer.allocUnsafe(zstdBinding.compressBound(BLOCK));
  const timed = async (pass: () => unknown): Promise<number> => {
    const t = performance.now();
    await pass();
    return performance.now() - t;
  };
  const baseline = () =>
    timed(() => {
      for (const b of blocks) cctx.compress2(zdst, b);
    });
  const worker = () => timed(() => encodeAll(enc, blocks, DEPTH, false));
  const sync = () =>
    timed(() => {
      for (const b of blocks) syncCodec.encode(b);
    });
  try {
    await worker(); // warm: threads, contexts, page faults
    await sync();
    await baseline();
    const w: number[] = [];
    const sy: number[] = [];
    const order: Array<[string, () => Promise<number>]> = [
      ['b', baseline],
      ['w', worker],
      ['s', sync],
    ];
    for (let r = 0; r < rounds; r++) {
      const times: Record<string, number> = {};
      for (let k = 0; k < order.length; k++) {
        const [name, pass] = order[(k + r) % order.length];
        times[name] = await pass();
      }
      w.push(times.b / times.w);
      sy.push(times.b / times.s);
    }
    return { worker: { median: median(w), ratios: w }, sync: { median: median(sy), ratios: sy } };
  } finally {
    await enc.close();
  }
}

interface PairedRatio {
  median: number;
  ratios: number[];
}

/** SyncBatchCodec: the batch API on the calling thread (what a caller on its own worker thread uses). */
async function syncSubject(codec: CodecName, blocks: Buffer[], total: number, o: BenchOptions): Promise<Row> {
  const opts: EncoderOptions = { codec };
  if (codec === 'zstd' || codec === 'deflate') opts.level = 1;
  const enc = new SyncBatchCodec(opts);
  const dec = new SyncBatchCodec(opts);
  const frames = blocks.map((b) => enc.encode(b));
  const bytes = frames.reduce((n, f) => n + f.length, 0);
  const roundTrip = frames.every((f, i) => dec.decode(f).pages.equals(blocks[i]));
  const te = await bench(
    `sync ${codec} encode`,
    () => {
      for (const b of blocks) enc.encode(b);
    },
    false,
    o,
  );
  const td = await bench(
    `sync ${codec} decode`,
    () => {
      for (const f of frames) dec.decode(f);
    },
    false,
    o,
  );
  return {
    name: `SyncBatchCodec ${codec}${codec === 'zstd' || codec === 'deflate' ? ' 1' : ''} (calling thread)`,
    encodeMBps: mbps(te, total),
    encodeRme: te.rme,
    decodeMBps: mbps(td, total),
    decodeRme: td.rme,
    ratio: total / bytes,
    roundTrip,
    baseline: false,
  };
}

async function baselines(blocks: Buffer[], total: number, o: BenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const equalAll = (outs: Buffer[]): boolean => outs.every((b, i) => b.equals(blocks[i]));

  // memcpy: Buffer.copy into one reused 4 MiB destination.
  const dst = Buffer.allocUnsafe(BLOCK);
  const copyAll = (): void => {
    for (const b of blocks) b.copy(dst);
  };
  const tm = await bench('memcpy', copyAll, false, o);
  rows.push({ name: 'memcpy (Buffer.copy)', encodeMBps: mbps(tm, total), encodeRme: tm.rme, decodeMBps: mbps(tm, total), decodeRme: tm.rme, ratio: 1, roundTrip: true, baseline: true });

  // node:zlib deflateSync / inflateSync, level 1.
  const zl = blocks.map((b) => zlib.deflateSync(b, { level: 1 }));
  const zlOk = equalAll(zl.map((z) => zlib.inflateSync(z)));
  const zlBytes = zl.reduce((s, b) => s + b.length, 0);
  const tze = await bench(
    'zlib deflateSync 1',
    () => {
      for (const b of blocks) zlib.deflateSync(b, { level: 1 });
    },
    false,
    o,
  );
  const tzd = await bench(
    'zlib inflateSync',
    () => {
      for (const z of zl) zlib.inflateSync(z);
    },
    false,
    o,
  );
  rows.push({
    name: 'node:zlib deflateSync/inflateSync 1 (main thread)',
    encodeMBps: mbps(tze, total),
    encodeRme: tze.rme,
    decodeMBps: mbps(tzd, total),
    decodeRme: tzd.rme,
    ratio: total / zlBytes,
    roundTrip: zlOk,
    baseline: true,
  });

  // lz4-napi, sync and async (libuv pool, DEPTH outstanding).
  const l4 = blocks.map((b) => lz4.compressSync(b));
  const l4Ok = equalAll(l4.map((z) => lz4.uncompressSync(z)));
  const l4Bytes = l4.reduce((s, b) => s + b.length, 0);
  const tle = await bench(
    'lz4-napi compressSync',
    () => {
      for (const b of blocks) lz4.compressSync(b);
    },
    false,
    o,
  );
  const tld = await bench(
    'lz4-napi uncompressSync',
    () => {
      for (const z of l4) lz4.uncompressSync(z);
    },
    false,
    o,
  );
  rows.push({
    name: 'lz4-napi compressSync/uncompressSync (main thread)',
    encodeMBps: mbps(tle, total),
    encodeRme: tle.rme,
    decodeMBps: mbps(tld, total),
    decodeRme: tld.rme,
    ratio: total / l4Bytes,
    roundTrip: l4Ok,
    baseline: true,
  });
  const pooled = async <T>(items: T[], f: (x: T) => Promise<Buffer>): Promise<void> => {
    const inflight: Array<Promise<Buffer>> = [];
    for (const it of items) {
      inflight.push(f(it));
      if (inflight.length >= DEPTH) await inflight.shift();
    }
    await Promise.all(inflight);
  };
  const tlae = await bench('lz4-napi compress', () => pooled(blocks, (b) => lz4.compress(b)), true, o);
  const tlad = await bench('lz4-napi uncompress', () => pooled(l4, (z) => lz4.uncompress(z)), true, o);
  rows.push({
    name: `lz4-napi compress/uncompress (async, ${DEPTH} outstanding)`,
    encodeMBps: mbps(tlae, total),
    encodeRme: tlae.rme,
    decodeMBps: mbps(tlad, total),
    decodeRme: tlad.rme,
    ratio: total / l4Bytes,
    roundTrip: l4Ok,
    baseline: true,
  });

  // zstd-napi/binding, level 1, reused contexts, caller-owned buffers.
  const cctx = new zstdBinding.CCtx();
  cctx.setParameter(zstdBinding.CParameter.compressionLevel, 1);
  const dctx = new zstdBinding.DCtx();
  const zdst = Buffer.allocUnsafe(zstdBinding.compressBound(BLOCK));
  const zs = blocks.map((b) => Buffer.from(zdst.subarray(0, cctx.compress2(zdst, b))));
  const back = Buffer.allocUnsafe(BLOCK);
  const zsOk = zs.every((z, i) => back.subarray(0, dctx.decompress(back, z)).equals(blocks[i]));
  const zsBytes = zs.reduce((s, b) => s + b.length, 0);
  const tse = await bench(
    'zstd-napi compress2 1',
    () => {
      for (const b of blocks) cctx.compress2(zdst, b);
    },
    false,
    o,
  );
  const tsd = await bench(
    'zstd-napi decompress',
    () => {
      for (const z of zs) dctx.decompress(back, z);
    },
    false,
    o,
  );
  rows.push({
    name: 'zstd-napi CCtx.compress2/DCtx.decompress 1 (main thread)',
    encodeMBps: mbps(tse, total),
    encodeRme: tse.rme,
    decodeMBps: mbps(tsd, total),
    decodeRme: tsd.rme,
    ratio: total / zsBytes,
    roundTrip: zsOk,
    baseline: true,
  });
  return rows;
}

export async function run(o: BenchOptions): Promise<{ tables: Table[]; criteria: Criterion[]; notes: string[]; data: unknown }> {
  const tables: Table[] = [];
  const criteria: Criterion[] = [];
  const notes: string[] = [];
  const data: Record<string, unknown> = {};
  for (const inp of inputs(o)) {
    // At most the first 512 MiB: enough 4 MiB blocks for stable figures, and under
    // readFileSync's 2 GiB limit (the zero-heavy image is 2 GiB).
    const fd = fs.openSync(inp.file, 'r');
    const buf = Buffer.allocUnsafe(Math.min(fs.fstatSync(fd).size, 512 * MiB));
    for (let at = 0; at < buf.length;) at += fs.readSync(fd, buf, at, buf.length - at, at);
    fs.closeSync(fd);
    const blocks: Buffer[] = [];
    for (let at = 0; at < buf.length; at += BLOCK) blocks.push(buf.subarray(at, Math.min(buf.length, at + BLOCK)));
    const total = buf.length;
    process.stderr.write(`[batch] ${inp.name}: ${blocks.length} blocks of 4 MiB\n`);
    const base = await baselines(blocks, total, o);
    const subj: Subject[] = [];
    for (const c of CODECS) {
      process.stderr.write(`[batch] ${inp.name}: ${c}\n`);
      subj.push(await subject(c, blocks, total, o));
    }
    process.stderr.write(`[batch] ${inp.name}: sync zstd, lz4\n`);
    const sync = [await syncSubject('zstd', blocks, total, o), await syncSubject('lz4', blocks, total, o)];
    const zstdRef = base.find((r) => r.name.startsWith('zstd-napi'))!;
    const rows = [...subj, ...sync, ...base];
    tables.push({
      title: `Batch API vs in-process codecs, ${inp.name}, ${fmt(total / MB, 0)} MB in ${blocks.length} blocks of 4 MiB (benchmark.js, ±rme)`,
      headers: ['codec', 'ratio', 'encode MB/s', 'x vs zstd-napi', 'decode MB/s', 'x vs zstd-napi', 'round trip'],
      rows: rows.map((r) => [
        r.name,
        fmt(r.ratio, 3),
        `${fmt(r.encodeMBps, 0)} ±${fmt(r.encodeRme, 0)}%`,
        fmt(r.encodeMBps / zstdRef.encodeMBps, 2),
        `${fmt(r.decodeMBps, 0)} ±${fmt(r.decodeRme, 0)}%`,
        fmt(r.decodeMBps / zstdRef.decodeMBps, 2),
        r.roundTrip ? 'ok' : 'MISMATCH',
      ]),
    });
    const prof = subj.map((s) => s.profile);
    tables.push({
      title: `Where the time goes, batch API T1 (one untimed pass each), ${inp.name}`,
      headers: [
        'codec',
        'encode wall ms/batch',
        'worker busy ms/batch',
        'worker busy % of wall',
        'main thread ELU %',
        'decode wall ms/batch',
        'worker busy ms/batch',
        'worker busy % of wall',
        'main thread ELU %',
      ],
      rows: prof.map((p, i) => {
        return [
          CODECS[i],
          fmt(p.encodeWallMs / p.batches, 2),
          fmt(p.encodeWorkerBusyMs / p.batches, 2),
          fmt((100 * p.encodeWorkerBusyMs) / p.encodeWallMs, 0),
          fmt(100 * p.encodeMainElu, 0),
          fmt(p.decodeWallMs / p.batches, 2),
          fmt(p.decodeWorkerBusyMs / p.batches, 2),
          fmt((100 * p.decodeWorkerBusyMs) / p.decodeWallMs, 0),
          fmt(100 * p.decodeMainElu, 0),
        ];
      }),
      note:
        'Worker busy = time the worker spends inside a job (classify + serialize + codec + CRC), from the pool counters; the rest of the wall time is ' +
        'messaging, copies into/out of the shared slab (main thread) and idle gaps. Main-thread ELU = event-loop utilization during the pass.',
    });
    for (const r of rows) if (!r.roundTrip) notes.push(`round trip FAILED: ${r.name} on ${inp.name}`);
    const broken = subj.filter((x) => x.decodeProblem);
    if (broken.length) {
      notes.push(
        `${inp.name}: BatchDecoder.decode() with ${DEPTH} calls outstanding FAILED for ${broken.map((x) => x.name.split(',')[0].replace('BatchEncoder/Decoder ', '')).join(', ')} ` +
          `(first: ${broken[0].decodeProblem}); those decode columns are measured with 1 call outstanding ("4/1").`,
      );
    }
    const z = subj.find((s) => s.name.includes('zstd'))!;
    process.stderr.write(`[batch] ${inp.name}: paired rounds, batch API zstd T1 vs zstd-napi\n`);
    const pairs = await pairedZstdRatios(blocks, o.quick ? 1 : 5);
    const paired = pairs.worker;
    data[`${inp.key}PairedZstdRatios`] = paired.ratios;
    data[`${inp.key}PairedSyncZstdRatios`] = pairs.sync.ratios;
    // What a paired criterion prints: its rounds, then the benchmark.js cases of the same two codecs.
    const pairedDetail = (p: PairedRatio, subjectMBps: number) =>
      `rounds ${p.ratios.map((x) => fmt(x, 2)).join(', ')}; benchmark.js cases: ${fmt(subjectMBps, 0)} vs ${fmt(zstdRef.encodeMBps, 0)} MB/s`;
    const syncDetail = pairedDetail(pairs.sync, sync[0].encodeMBps);
    const zs = sync[0];
    const tag = inp.key === 'real' ? 'real corpus' : 'zero-heavy';
    if (inp.key === 'real') {
      criteria.push(
        criterion(
          'C1s',
          `SyncBatchCodec zstd (calling thread) throughput vs zstd-napi L1 (${tag}; median of paired rounds)`,
          pairs.sync.median,
          '>=',
          0.9,
          'x',
          `${syncDetail}; ratio ${fmt(zs.ratio, 3)} vs ${fmt(zstdRef.ratio, 3)}`,
        ),
      );
      criteria.push(criterion('C1', `batch encode zstd T1 throughput vs zstd-napi L1 (${tag}; median of paired rounds)`, paired.median, '>=', 0.9, 'x', pairedDetail(paired, z.encodeMBps)));
      criteria.push(criterion('C2', `batch encode zstd T1 ratio vs zstd-napi L1 (${tag})`, z.ratio / zstdRef.ratio, '>=', 1.0, 'x', `${fmt(z.ratio, 3)} vs ${fmt(zstdRef.ratio, 3)}`));
    } else {
      criteria.push(criterion('C3s', `SyncBatchCodec zstd (calling thread) throughput vs zstd-napi L1 (${tag}; median of paired rounds)`, pairs.sync.median, '>=', 2.0, 'x', syncDetail));
      criteria.push(criterion('C3', `batch encode zstd T1 throughput vs zstd-napi L1 (${tag}; median of paired rounds)`, paired.median, '>=', 2.0, 'x', pairedDetail(paired, z.encodeMBps)));
      criteria.push(criterion('C4', `batch encode zstd T1 ratio vs zstd-napi L1 (${tag})`, z.ratio / zstdRef.ratio, '>=', 1.0, 'x', `${fmt(z.ratio, 3)} vs ${fmt(zstdRef.ratio, 3)}`));
    }
    criteria.push(
      criterion(inp.key === 'real' ? 'C-rt1' : 'C-rt2', `batch and baseline round trips byte-identical (${tag})`, rows.filter((r) => r.roundTrip).length, '>=', rows.length, 'of ' + rows.length),
    );

    // Sweep: outstanding calls and threads, zstd 1 (real corpus only; quick mode skips it).
    let sweep: Subject[] = [];
    if (inp.key === 'real' && !o.quick) {
      for (const [threads, depth] of [
        [1, 1],
        [1, 2],
        [2, 4],
        [2, 8],
      ] as Array<[number, number]>) {
        process.stderr.write(`[batch] sweep T${threads} depth ${depth}\n`);
        sweep.push(await subject('zstd', blocks, total, o, threads, depth));
      }
      sweep = [z, ...sweep];
      tables.push({
        title: `Batch API zstd 1: threads x outstanding calls, ${inp.name}`,
        headers: ['configuration', 'encode MB/s', 'x vs zstd-napi', 'decode MB/s', 'x vs zstd-napi'],
        rows: sweep.map((r) => [
          r.name,
          `${fmt(r.encodeMBps, 0)} ±${fmt(r.encodeRme, 0)}%`,
          fmt(r.encodeMBps / zstdRef.encodeMBps, 2),
          `${fmt(r.decodeMBps, 0)} ±${fmt(r.decodeRme, 0)}%`,
          fmt(r.decodeMBps / zstdRef.decodeMBps, 2),
        ]),
      });
    }
    data[inp.key] = { bytes: total, blocks: blocks.length, subjects: subj, baselines: base, sweep };
  }
  notes.push(
    'BatchEncoder MB/s include the copy of each 4 MiB block into the shared slab and the copy of each frame out of it (both on the main thread), as any caller pays them; ' +
      'SyncBatchCodec copies each block once into its image buffer and runs classification and the codec on the calling thread, like the zstd-napi baseline. ' +
      'Inputs are the first 512 MiB of each file.',
  );
  return { tables, criteria, notes, data };
}

if (require.main === module) benchMain('batch', '', run);
