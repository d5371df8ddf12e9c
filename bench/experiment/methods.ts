/**
 * The four methods of the seed-study experiment (issue 5, item 6). Each one is a
 * configuration of the same migration engine (lib/migration: sender, receiver, the core
 * BatchEncoder), run over the same emulated link, with the same guest and workload; only
 * the options below differ. docs/RESULTS.md explains every choice.
 *
 * Study: "Minimizing Migration Time of Virtual Machines by Serializing & Compressing Memory
 * Pages in Xen Hypervisor" (D. Abbi, dissertation proposal): Xen 4.4, batches of 1024
 * pages, 100 Mbit/s LAN, compression with miniz (deflate), serialization with tpl.
 */
import type { MigrateOptions } from '../../lib/migration/sender';

export type MethodName = 'raw' | 'non-adaptive' | 'seed' | 'pagepress';

export const METHOD_NAMES: readonly MethodName[] = ['raw', 'non-adaptive', 'seed', 'pagepress'];

/** Settings shared by every method (same for all, so they do not favour one). */
export interface CommonSettings {
  /** Deflate level of the two deflate methods. The study does not state one (miniz's default is 6); we use 1. */
  deflateLevel: number;
  /** COMMIT's checksum mode, the same for every method (see docs/MIGRATION.md, Commit). */
  verify: 'paused' | 'sent';
  /** Encoder threads on the sender. */
  threads: number;
  /** pagepress's adaptive policy: the downtime it aims for, ms. */
  downtimeTargetMs: number;
}

export interface Method {
  name: MethodName;
  /** Short label for tables and plots. */
  label: string;
  /** What it stands for, one line. */
  what: string;
  /** How it is emulated with our engine, one or two lines (docs/RESULTS.md). */
  how: string;
  /** Migration options for a guest of `pageCount` pages. */
  options(pageCount: number, common: CommonSettings): Partial<MigrateOptions>;
}

export const METHODS: Readonly<Record<MethodName, Method>> = {
  raw: {
    name: 'raw',
    label: 'raw (Xen 4.4)',
    what: "Xen 4.4's own pre-copy: pages sent as they are, the study's Xen stop rule.",
    how: 'codec `none`, cacheSlots 0 (no UNCHANGED/DELTA), 1024-page batches, policy `xen-4.4` (< 50 pages, 29 iterations or 3x memory).',
    options: (_pages, c) => ({ codec: 'none', cacheSlots: 0, batchPages: 1024, policy: 'xen-4.4', verify: c.verify, threads: c.threads }),
  },
  'non-adaptive': {
    name: 'non-adaptive',
    label: 'non-adaptive (deflate per page)',
    what: "The study's baseline compressor: every page deflated on its own.",
    how: 'codec `deflate`, batchPages 1 (each page is its own frame, so deflate never sees two pages together), cacheSlots 0, policy `xen-4.4`.',
    options: (_pages, c) => ({ codec: 'deflate', level: c.deflateLevel, cacheSlots: 0, batchPages: 1, policy: 'xen-4.4', verify: c.verify, threads: c.threads }),
  },
  seed: {
    name: 'seed',
    label: 'seed (batch + deflate)',
    what: "The study's method: serialize the 1024-page batch, then deflate it.",
    how: 'codec `deflate`, 1024-page batches (one deflate stream per batch), cacheSlots 0, policy `xen-4.4`.',
    options: (_pages, c) => ({ codec: 'deflate', level: c.deflateLevel, cacheSlots: 0, batchPages: 1024, policy: 'xen-4.4', verify: c.verify, threads: c.threads }),
  },
  pagepress: {
    name: 'pagepress',
    label: 'pagepress (best)',
    what: 'pagepress at its best: classification, pfn-keyed page cache (deltas of re-sent pages), auto codec, adaptive stop policy.',
    how: "codec `auto`, 1024-page batches, cacheSlots = guest pages (every re-sent page can be UNCHANGED/DELTA), policy `adaptive` with the downtime target shown above (the experiment aims at the study's tens of ms, not the engine's 300 ms default).",
    options: (pages, c) => ({ codec: 'auto', cacheSlots: pages, batchPages: 1024, policy: 'adaptive', downtimeTargetMs: c.downtimeTargetMs, verify: c.verify, threads: c.threads }),
  },
};

/**
 * Rough fraction of the raw guest bytes each method puts on the wire in its first pass, on
 * memory-like pages, used only for the duration estimate printed at start (from a quick run
 * on the real-memory corpus; refined by later runs).
 */
export const WIRE_FRACTION_ESTIMATE: Readonly<Record<MethodName, number>> = {
  raw: 1.0,
  'non-adaptive': 0.5,
  seed: 0.41,
  pagepress: 0.4,
};
