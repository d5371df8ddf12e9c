/**
 * Inputs of the predictor measured rather than assumed: what a codec makes of one guest's
 * pages (profileCodec, on a running guest), and what the hosts add (machineFromReport, from
 * one calibration migration). Both are cheap next to a migration: profileCodec encodes a
 * sample of about 16 batches and the pages one workload dirties in a second or two.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchDecoder, BatchEncoder } from '../stream/batch';
import type { CodecChoice } from '../codec/registry';
import type { GuestMemory } from '../migration/guest';
import type { MigrationReport } from '../migration/metrics';
import type { CodecProfile, LinkModel, MachineProfile } from './simulate';

/** Options of {@link profileCodec}. */
export interface ProfileOptions {
  codec?: CodecChoice;
  level?: number;
  /** Encoder and decoder threads (default: as the engine, available parallelism). */
  threads?: number;
  batchPages?: number;
  /** Batches of consecutive pages sampled for the first pass, spread evenly (default 16). */
  sampleBatches?: number;
  /** Time between the two reads of the dirtied pages, ms (default 1000). */
  gapMs?: number;
}

/** Encodes `pfns` batch by batch (pipelined); returns wire bytes, frames and ms. */
async function encodeAll(guest: GuestMemory, enc: BatchEncoder, pfns: Uint32Array, batchPages: number): Promise<{ bytes: number; frames: Buffer[]; ms: number }> {
  const P = guest.pageSize;
  const pending: Promise<Buffer>[] = [];
  const t = performance.now();
  for (let i = 0; i < pfns.length; i += batchPages) {
    const sub = pfns.subarray(i, Math.min(pfns.length, i + batchPages));
    const buf = Buffer.allocUnsafe(sub.length * P);
    guest.readPages(sub, buf);
    pending.push(enc.encode(buf, sub));
  }
  const frames = await Promise.all(pending);
  return { bytes: frames.reduce((s, f) => s + f.length, 0), frames, ms: performance.now() - t };
}

/** Evenly spread runs of `batchPages` consecutive pfns, `batches` of them (all pages if fewer). */
function samplePfns(pageCount: number, batches: number, batchPages: number): Uint32Array {
  if (batches * batchPages >= pageCount) return Uint32Array.from({ length: pageCount }, (_, i) => i);
  const out = new Uint32Array(batches * batchPages);
  const stride = Math.floor(pageCount / batches);
  for (let b = 0; b < batches; b++) for (let i = 0; i < batchPages; i++) out[b * batchPages + i] = b * stride + i;
  return out;
}

/** The pfns in both sorted arrays. */
function intersect(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out: number[] = [];
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    if (a[i] === b[j]) (out.push(a[i]), i++, j++);
    else if (a[i] < b[j]) i++;
    else j++;
  }
  return Uint32Array.from(out);
}

/**
 * Measures a codec on a running guest. First pass: a sample of batches spread over the
 * guest, encoded (speed, bytes per page) and decoded (speed). Re-sent pages: the pages the
 * guest dirties in one interval are encoded (filling the page cache), and those it dirties
 * again in the next interval are encoded once more against that cache (bytes per cached
 * re-sent page) and once with an empty cache (bytes per uncached one). Takes the guest's
 * dirty log: use a guest that is not being migrated.
 */
export async function profileCodec(guest: GuestMemory, o: ProfileOptions = {}): Promise<CodecProfile> {
  const batchPages = o.batchPages ?? 1024;
  const gapMs = o.gapMs ?? 1000;
  const common = { codec: o.codec ?? ('zstd' as CodecChoice), level: o.level, threads: o.threads, pageSize: guest.pageSize, batchPages };
  const sample = samplePfns(guest.pageCount, o.sampleBatches ?? 16, batchPages);

  const first = new BatchEncoder({ ...common, cacheSlots: 0 });
  const dec = new BatchDecoder({ ...common, cacheSlots: 0 });
  const cached = new BatchEncoder({ ...common, cacheSlots: Math.min(guest.pageCount, 65536) });
  try {
    const pass = await encodeAll(guest, first, sample, batchPages);
    const t = performance.now();
    await Promise.all(pass.frames.map((f) => dec.decode(f)));
    const decodeMs = performance.now() - t;

    guest.takeDirty();
    await sleep(gapMs);
    const once = guest.takeDirty();
    await encodeAll(guest, cached, once, batchPages);
    await sleep(gapMs);
    const again = intersect(once, guest.takeDirty());
    let hit = pass.bytes / sample.length;
    let miss = hit;
    if (again.length > 0) {
      hit = (await encodeAll(guest, cached, again, batchPages)).bytes / again.length;
      miss = (await encodeAll(guest, first, again, batchPages)).bytes / again.length;
    }
    return {
      codec: common.codec,
      level: o.level,
      firstBytesPerPage: pass.bytes / sample.length,
      resentHitBytesPerPage: hit,
      resentMissBytesPerPage: miss,
      encodePagesPerSec: (sample.length / pass.ms) * 1000,
      decodePagesPerSec: (sample.length / Math.max(decodeMs, 0.001)) * 1000,
    };
  } finally {
    await Promise.all([first.close(), dec.close(), cached.close()]);
  }
}

/**
 * The host part of a MachineProfile from one finished migration over `link` (a calibration
 * run, kept out of any evaluation): the share of the link rate it got, the checksum speed,
 * and the downtime and set-up time left once the modelled parts are taken out.
 */
export function machineFromReport(r: MigrationReport, link: LinkModel, sharedCpu: boolean): MachineProfile {
  const rtt = 2 * link.latencyMs;
  const live = r.iterations.filter((it) => !it.final).reduce((s, it) => s + it.ms, 0);
  const d = r.downtime;
  return {
    linkEfficiency: Math.min(1, r.measured.linkBytesPerSec / link.bytesPerSec),
    checksumBytesPerSec: r.measured.checksumMs > 0 ? (r.pageCount * r.pageSize) / (r.measured.checksumMs / 1000) : 4e9,
    fixedDowntimeMs: Math.max(0, d.pauseMs + d.commitMs + d.resumeMs - 2 * rtt),
    connectMs: Math.max(0, r.totalMs - live - r.drainBeforePauseMs - r.downtimeMs - rtt),
    sharedCpu,
  };
}
