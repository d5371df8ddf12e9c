/**
 * What a migration reports: the sender's MigrationReport and the receiver's ReceiverReport
 * (times, downtime, bytes both ways, pages per iteration and per kind), plus a text
 * summary for humans. Field meanings are in docs/MIGRATION.md, "Metrics".
 */
import type { MeasuredRates, PolicyDecision } from './policy';

/** Pages per kind, as the encoder classified them (lib/native.ts PageKind order). */
export interface PageKinds {
  zero: number;
  literal: number;
  dup: number;
  unchanged: number;
  delta: number;
}

/** A PageKinds from the engine's kinds array (indexed by PageKind). */
export function kindsFromArray(k: ArrayLike<number>): PageKinds {
  return { zero: k[0] ?? 0, literal: k[1] ?? 0, dup: k[2] ?? 0, unchanged: k[3] ?? 0, delta: k[4] ?? 0 };
}

/** after - before, per kind (both engine kinds arrays). */
export function kindsDiff(after: ArrayLike<number>, before: ArrayLike<number>): PageKinds {
  return kindsFromArray([0, 1, 2, 3, 4].map((i) => (after[i] ?? 0) - (before[i] ?? 0)));
}

/** Pages re-sent cheaply: UNCHANGED + DELTA. */
export function resentCheaply(k: PageKinds): number {
  return k.unchanged + k.delta;
}

/** One iteration as the sender saw it. */
export interface IterationReport {
  /** 0 = the full pass; the last one is the stop-and-copy iteration (final). */
  iteration: number;
  /** Sent with the guest paused. */
  final: boolean;
  /** Pages sent (the dirty set of the iteration). */
  pages: number;
  batches: number;
  /** BATCH message bytes (frames + pfn runs + headers). */
  wireBytes: number;
  /** Page bytes before encoding. */
  rawBytes: number;
  /** From ITERATION_BEGIN to ITERATION_END written, in ms. */
  ms: number;
  kinds: PageKinds;
  /** Live iterations: the pages dirty when it ended, and the policy's answer then. */
  dirtyAfter?: number;
  decision?: PolicyDecision;
}

/** Downtime split into its steps (sender clock, ms). */
export interface DowntimeBreakdown {
  /** pause() until the writer acknowledged. */
  pauseMs: number;
  /** PAUSED to the final ITERATION_END written (the final pages encoded and handed to the socket). */
  finalCopyMs: number;
  /** Final ITERATION_END written to COMMIT written: finishing the sender's checksum of the paused memory. */
  checksumMs: number;
  /** COMMIT written to COMMIT_ACK read: the receiver decoding the rest and comparing checksums (+1 round trip). */
  commitMs: number;
  /** GO written to RESUMED read: the receiver's resume (+1 round trip). */
  resumeMs: number;
}

/** The sender's report of a successful migration. */
export interface MigrationReport {
  /**
   * Live iterations: time from an iteration's last byte handed to the socket until the
   * receiver had it in memory (ITERATION_ACK), summed. The dirty set is taken after it, so
   * no backlog is drained inside the downtime. The guest runs meanwhile.
   */
  drainBeforePauseMs: number;
  outcome: 'migrated';
  /** The source guest after success: paused (it now runs on the receiver). */
  sourceState: 'paused';
  protocolVersion: number;
  /** What COMMIT's checksum covered: the paused guest re-read ('paused') or the pages as sent ('sent'). */
  verify: 'paused' | 'sent';
  /** The policy and its parameters. */
  policy: Record<string, unknown>;
  /** Why the pre-copy loop stopped (the policy's reason). */
  stopReason: string;
  codec: string;
  level: number;
  threads: number;
  batchPages: number;
  cacheSlots: number;
  /** The link between the ends, when the caller said (e.g. "kernel 100 Mbit/s, 0.5 ms"). */
  link?: string;
  guest: Record<string, unknown>;
  pageSize: number;
  pageCount: number;
  /** Connect to RESUMED, in ms. */
  totalMs: number;
  /**
   * pause() called on the source until RESUMED arrived from the receiver, in ms (sender's
   * clock; includes one one-way network delay of RESUMED).
   */
  downtimeMs: number;
  downtime: DowntimeBreakdown;
  /** Live iterations (the final one not counted). */
  liveIterations: number;
  iterations: IterationReport[];
  /** Pages sent over all iterations, and their kinds. */
  pagesSent: number;
  kinds: PageKinds;
  /** BATCH frames per codec (with `auto`, what it chose). */
  codecs: Record<string, number>;
  bytes: {
    /** Protocol bytes sender -> receiver (all messages). */
    sent: number;
    /** Protocol bytes receiver -> sender. */
    received: number;
    /** Of `sent`, BATCH messages. */
    batches: number;
    /** Page bytes before encoding (pagesSent x pageSize). */
    raw: number;
  };
  /** raw / batches bytes. */
  ratio: number;
  /** Rates measured at the stop decision. */
  measured: MeasuredRates;
  /** What the receiver said in RESUMED (its clock). */
  receiver: { verifyMs: number; resumeMs: number };
}

/** The receiver's report of a received guest. */
export interface ReceiverReport {
  outcome: 'resumed';
  protocolVersion: number;
  codec: string;
  level: number;
  batchPages: number;
  cacheSlots: number;
  pageSize: number;
  pageCount: number;
  /** The sender's HELLO meta (its guest description, policy...). */
  meta: Record<string, unknown>;
  /** Connection accepted to RESUMED sent, in ms. */
  totalMs: number;
  /** PAUSED read to RESUMED sent, in ms (receiver's clock; the guest was paused meanwhile). */
  pausedMs: number;
  /** Time to check the memory checksum at COMMIT, in ms. */
  verifyMs: number;
  iterations: Array<{ iteration: number; final: boolean; pages: number; batches: number; wireBytes: number }>;
  pagesReceived: number;
  kinds: PageKinds;
  bytes: { sent: number; received: number; batches: number };
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function kindsText(k: PageKinds): string {
  return `zero ${k.zero}, literal ${k.literal}, dup ${k.dup}, unchanged ${k.unchanged}, delta ${k.delta}`;
}

/** A few lines for humans (the CLI prints them without --json). */
export function formatReport(r: MigrationReport): string {
  const lines = [
    `migrated ${r.pageCount} pages (${mib(r.pageCount * r.pageSize)}) in ${r.totalMs.toFixed(0)} ms, downtime ${r.downtimeMs.toFixed(1)} ms`,
    `policy ${String(r.policy.name)}: ${r.stopReason}`,
    `codec ${r.codec} level ${r.level}, ${r.threads} threads${r.link ? `, link ${r.link}` : ''}` +
      (r.codec === 'auto'
        ? ` (frames: ${Object.entries(r.codecs)
            .map(([c, n]) => `${c} ${n}`)
            .join(', ')})`
        : ''),
    `sent ${mib(r.bytes.sent)} (${r.pagesSent} pages, ${mib(r.bytes.raw)} raw, ratio ${r.ratio.toFixed(2)}), received ${r.bytes.received} bytes`,
    `kinds: ${kindsText(r.kinds)}`,
    `downtime: pause ${r.downtime.pauseMs.toFixed(1)}, final copy ${r.downtime.finalCopyMs.toFixed(1)}, checksum ${r.downtime.checksumMs.toFixed(1)}, commit ${r.downtime.commitMs.toFixed(1)}, resume ${r.downtime.resumeMs.toFixed(1)} ms`,
  ];
  for (const it of r.iterations) {
    lines.push(
      `  iteration ${it.iteration}${it.final ? ' (paused)' : ''}: ${it.pages} pages, ${mib(it.wireBytes)}, ${it.ms.toFixed(0)} ms${it.dirtyAfter !== undefined ? `, ${it.dirtyAfter} dirty after` : ''}`,
    );
  }
  return lines.join('\n');
}
