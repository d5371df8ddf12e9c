/**
 * Inputs of the predictor measured rather than assumed: what a codec makes of one guest's
 * pages (profileCodec, on a running guest), and what the hosts add (machineFromReport, from
 * one calibration migration). Both are cheap next to a migration: profileCodec encodes a
 * sample of 32 batches a few times over about two seconds.
 */
import * as os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchDecoder, BatchEncoder } from '../stream/batch';
import { CodecChoice, DEFAULT_CODEC } from '../codec/registry';
import type { GuestMemory } from '../migration/guest';
import { CHECKSUM_CHUNK_PAGES, pageChecksums } from '../migration/protocol';
import type { MigrationReport } from '../migration/metrics';
import type { CodecProfile, LinkModel, MachineProfile } from './simulate';

/** Options of {@link profileCodec}. */
export interface ProfileOptions {
  codec?: CodecChoice;
  level?: number;
  /** Encoder and decoder threads (default: as the engine, available parallelism). */
  threads?: number;
  batchPages?: number;
  /** Batches of consecutive pages sampled, spread evenly (default 32). */
  sampleBatches?: number;
  /** Time between the two reads of the dirtied pages, ms (default 1000; also measured at a tenth of it). */
  gapMs?: number;
  /**
   * For `auto`: profile it as in a migration whose link is the bottleneck (default true:
   * auto then picks zstd) or whose encoder is (false: lz4). The sender tells auto which
   * one holds (BatchEncoder.setOutputProbe); the profile's encoders have no socket.
   */
  linkBound?: boolean;
}

/**
 * Reads pages `pfns` and encodes them batch by batch (pipelined), keyed in the page cache by
 * `keys` (default: the pfns); returns wire bytes, frames and ms.
 */
async function encodeAll(guest: GuestMemory, enc: BatchEncoder, pfns: Uint32Array, batchPages: number, keys = pfns): Promise<{ bytes: number; frames: Buffer[]; ms: number }> {
  const P = guest.pageSize;
  const pending: Promise<Buffer>[] = [];
  const t = performance.now();
  for (let i = 0; i < pfns.length; i += batchPages) {
    const end = Math.min(pfns.length, i + batchPages);
    const buf = Buffer.allocUnsafe((end - i) * P);
    guest.readPages(pfns.subarray(i, end), buf);
    pending.push(enc.encode(buf, keys.subarray(i, end)));
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

/** The positions in sorted `sample` of the pfns also in sorted `dirty`. */
function positionsIn(sample: Uint32Array, dirty: Uint32Array): Uint32Array {
  const out: number[] = [];
  for (let i = 0, j = 0; i < sample.length && j < dirty.length;) {
    if (sample[i] === dirty[j]) {
      out.push(i);
      i++;
      j++;
    } else if (sample[i] < dirty[j]) i++;
    else j++;
  }
  return Uint32Array.from(out);
}

/**
 * Measures a codec on a running guest. First pass: a sample of batches spread over the
 * guest, encoded (speed, bytes per page) and decoded (speed). Re-sent pages: the sample is
 * encoded again into a page cache (as a pass of a migration leaves it), the guest runs for
 * a gap, and the sampled pages it dirtied meanwhile are encoded against that cache (bytes
 * per cached re-sent page, and the encoder's speed on them) and with no cache (bytes per
 * uncached one); at a gap of `gapMs` and of a tenth of it, since a delta grows with the
 * writes in between. Takes the guest's dirty log: use a guest that is not being migrated.
 */
export async function profileCodec(guest: GuestMemory, o: ProfileOptions = {}): Promise<CodecProfile> {
  const batchPages = o.batchPages ?? 1024;
  const gapMs = o.gapMs ?? 1000;
  const common = { codec: o.codec ?? DEFAULT_CODEC, level: o.level, threads: o.threads, pageSize: guest.pageSize, batchPages };
  const sample = samplePfns(guest.pageCount, o.sampleBatches ?? 32, batchPages);

  const first = new BatchEncoder({ ...common, cacheSlots: 0 });
  const dec = new BatchDecoder({ ...common, cacheSlots: 0 });
  // The cache is keyed by position in the sample (one slot each), so sampled pages never
  // evict each other: later iterations of a migration find their pages in its cache too.
  const cached = new BatchEncoder({ ...common, cacheSlots: sample.length });
  const linkBound = o.linkBound ?? true;
  for (const enc of [first, cached]) enc.setOutputProbe(() => linkBound);
  const positions = Uint32Array.from(sample, (_, i) => i);
  try {
    // Start the worker threads and their codecs first: a migration's encoder is warm after its first batches.
    const warm = sample.subarray(0, Math.min(sample.length, 2 * batchPages));
    for (const f of (await encodeAll(guest, first, warm, batchPages)).frames) await dec.decode(f);
    const pass = await encodeAll(guest, first, sample, batchPages);
    const t = performance.now();
    await Promise.all(pass.frames.map((f) => dec.decode(f)));
    const decodeMs = performance.now() - t;

    const curve: Array<{ gapMs: number; bytesPerPage: number }> = [];
    let miss = pass.bytes / sample.length;
    let resentRate: number | undefined;
    for (const gap of [Math.max(1, Math.round(gapMs / 10)), gapMs]) {
      guest.takeDirty();
      await encodeAll(guest, cached, sample, batchPages, positions);
      await sleep(gap);
      const at = positionsIn(sample, guest.takeDirty());
      if (at.length === 0) continue;
      const again = Uint32Array.from(at, (i) => sample[i]);
      const hit = await encodeAll(guest, cached, again, batchPages, at);
      curve.push({ gapMs: gap, bytesPerPage: hit.bytes / again.length });
      if (again.length >= 2 * batchPages) resentRate = (again.length / hit.ms) * 1000;
      if (gap === gapMs) miss = (await encodeAll(guest, first, again, batchPages)).bytes / again.length;
    }
    return {
      codec: common.codec,
      level: o.level,
      firstBytesPerPage: pass.bytes / sample.length,
      resentHitBytesPerPage: curve.length > 0 ? curve[curve.length - 1].bytesPerPage : miss,
      resentHitCurve: curve.length > 0 ? curve : undefined,
      resentMissBytesPerPage: miss,
      encodePagesPerSec: (sample.length / pass.ms) * 1000,
      resentEncodePagesPerSec: resentRate,
      decodePagesPerSec: (sample.length / Math.max(decodeMs, 0.001)) * 1000,
    };
  } finally {
    await Promise.all([first.close(), dec.close(), cached.close()]);
  }
}

/**
 * Bytes per second the sender checksums a paused guest at (read each page, CRC32C it, as
 * COMMIT's checksum does), over up to `maxPages` of `guest`; the best of 3 passes.
 */
export function measureChecksumRate(guest: GuestMemory, maxPages = 32768): number {
  const C = CHECKSUM_CHUNK_PAGES;
  const n = Math.min(maxPages, guest.pageCount);
  const scratch = Buffer.allocUnsafe(C * guest.pageSize);
  const crcs = new Uint32Array(C);
  let best = Infinity;
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    for (let first = 0; first < n; first += C) {
      const m = Math.min(C, n - first);
      guest.readRange(first, m, scratch);
      pageChecksums(scratch.subarray(0, m * guest.pageSize), guest.pageSize, crcs, 0);
    }
    best = Math.min(best, performance.now() - t);
  }
  return (n * guest.pageSize) / (Math.max(best, 0.001) / 1000);
}

/**
 * The host part of a MachineProfile from one finished calibration migration over `link` (an
 * idle guest, codec none, kept out of any evaluation): the share of the link rate it got,
 * the checksum speed, and the downtime and set-up time left once the modelled parts are
 * taken out. `transferBytesPerSec` comes from a calibration over a link faster than the hosts.
 */
export function machineFromReport(r: MigrationReport, link: LinkModel, sharedCpu: boolean, transferBytesPerSec = Infinity): MachineProfile {
  const rtt = 2 * link.latencyMs;
  const live = r.iterations.filter((it) => !it.final).reduce((s, it) => s + it.ms, 0);
  const d = r.downtime;
  return {
    linkEfficiency: Math.min(1, r.measured.linkBytesPerSec / link.bytesPerSec),
    // Idle guest, codec none: the final copy is a few pages, so copy + checksum wait is the checksum.
    checksumBytesPerSec: (r.pageCount * r.pageSize) / (Math.max(1, d.finalCopyMs + d.checksumMs) / 1000),
    transferBytesPerSec,
    cores: os.availableParallelism(),
    fixedDowntimeMs: Math.max(0, d.pauseMs + d.commitMs + d.resumeMs - 2 * rtt),
    connectMs: Math.max(0, r.totalMs - live - r.drainBeforePauseMs - r.downtimeMs - rtt),
    sharedCpu,
  };
}
