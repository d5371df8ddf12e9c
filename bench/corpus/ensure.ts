/**
 * Builds the benchmark corpus files into a cache directory if they are missing, for the
 * benchmark runner and CI:
 *
 *   import { ensureCorpus } from './corpus/ensure';
 *   const { real, zeroHeavy } = await ensureCorpus({ mib: 480 });   // full (minutes)
 *   const { real, zeroHeavy } = await ensureCorpus({ tiny: true }); // 16 MiB smoke (seconds)
 *
 *   const { guest } = await ensureCorpus({ guest: true });            // + guest-memory corpus (QEMU, ~5 min)
 *
 *   node dist/bench/corpus/ensure.js [--tiny] [--guest] [--dir DIR] [--mib N] [--zero-heavy-mib N] [--force]
 *
 * The real corpus is built in --spawn mode (snapshot.ts), the zero-heavy image from it
 * (zero-heavy.ts, 85% zero pages, seed "pagepress"). Existing files are reused when their
 * JSON sidecar is present and the size matches. Needs Linux /proc; PFN de-duplication needs
 * root (without it the corpus is still built, with a warning). The guest-memory corpus
 * (guest.ts: QEMU guests, raw RAM snapshots and xl streams) is built only when asked for
 * (`guest`), never for `tiny` unless asked, so CI does not depend on it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { snapshot, repoRoot, PAGE } from './snapshot';
import { buildZeroHeavy } from './zero-heavy';
import { buildGuestCorpus, GuestCorpusFiles, GuestCorpusOptions } from './guest';

export interface EnsureOptions {
  /** Cache directory; default bench/corpus/ in the repository (or $PAGEPRESS_CORPUS_DIR). */
  dir?: string;
  /** Size cap of the real corpus in MiB (default 480; 16 when tiny). */
  mib?: number;
  /** Size of the zero-heavy image in MiB (default 512; 16 when tiny). */
  zeroHeavyMib?: number;
  /** CI smoke-test corpus: small workloads (scale 0.1), 16 MiB files. */
  tiny?: boolean;
  /** Rebuild even if the files exist. */
  force?: boolean;
  /**
   * Also the guest-memory corpus (bench/corpus/guest.ts), built when missing: true for the
   * defaults (pagecache, heap, idle; 512 MiB guests) or its options (`dir` defaults to this `dir`).
   */
  guest?: boolean | GuestCorpusOptions;
  log?: (msg: string) => void;
}

/** The corpus files. */
export interface CorpusFiles {
  real: string;
  zeroHeavy: string;
  /** Only when `guest` was asked for: each workload's raw snapshots and xl stream. */
  guest?: GuestCorpusFiles[];
}

function valid(file: string): boolean {
  try {
    const meta = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as { pages?: number };
    return typeof meta.pages === 'number' && meta.pages > 0 && fs.statSync(file).size === meta.pages * PAGE;
  } catch {
    return false;
  }
}

/** Builds the missing corpus files (see the module comment) and returns their paths. */
export async function ensureCorpus(opts: EnsureOptions = {}): Promise<CorpusFiles> {
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const tiny = opts.tiny === true;
  const dir = path.resolve(opts.dir ?? process.env.PAGEPRESS_CORPUS_DIR ?? path.join(repoRoot(), 'bench', 'corpus'));
  const mib = opts.mib ?? (tiny ? 16 : 480);
  // 2 GiB: an idle 2 GiB guest. At 512 MiB both command lines finish in about 0.3 s, and
  // Node's start-up (about 0.1 s against zstd's 1 ms) would be what the run measures.
  const zhMib = opts.zeroHeavyMib ?? (tiny ? 16 : 2048);
  fs.mkdirSync(dir, { recursive: true });
  const tag = tiny ? 'tiny-' : '';
  const real = path.join(dir, `snapshot-${tag}${mib}m.bin`);
  const zeroHeavy = path.join(dir, `zero-heavy-${tag}${zhMib}m.bin`);

  let rebuiltReal = false;
  if (opts.force || !valid(real)) {
    log(`building real corpus ${real} (spawn mode, cap ${mib} MiB${tiny ? ', tiny' : ''})`);
    await snapshot({ out: real, spawn: true, maxMib: mib, scale: tiny ? 0.1 : 1, log });
    rebuiltReal = true;
  }
  if (opts.force || rebuiltReal || !valid(zeroHeavy)) {
    log(`building zero-heavy image ${zeroHeavy} (${zhMib} MiB, 85% zero)`);
    buildZeroHeavy({ from: real, out: zeroHeavy, sizeMib: zhMib, zeroFraction: 0.85, seed: 'pagepress' });
  }
  if (!opts.guest) return { real, zeroHeavy };
  const g = opts.guest === true ? {} : opts.guest;
  const guest = await buildGuestCorpus({ dir, force: opts.force, log, ...g });
  return { real, zeroHeavy, guest };
}

if (require.main === module) {
  const a = process.argv.slice(2);
  const o: EnsureOptions = {};
  const usage = (): never => {
    process.stderr.write('usage: node dist/bench/corpus/ensure.js [--tiny] [--guest] [--dir DIR] [--mib N] ' + '[--zero-heavy-mib N] [--force]\n');
    process.exit(2);
  };
  for (let i = 0; i < a.length; i++) {
    const v = (): string => (i + 1 < a.length ? a[++i] : usage());
    switch (a[i]) {
      case '--tiny':
        o.tiny = true;
        break;
      case '--guest':
        o.guest = true;
        break;
      case '--force':
        o.force = true;
        break;
      case '--dir':
        o.dir = v();
        break;
      case '--mib':
        o.mib = Number(v());
        break;
      case '--zero-heavy-mib':
        o.zeroHeavyMib = Number(v());
        break;
      default:
        usage();
    }
  }
  ensureCorpus(o).then(
    (f) => {
      process.stdout.write(`${f.real}\n${f.zeroHeavy}\n`);
      for (const g of f.guest ?? []) process.stdout.write(`${[...g.raw, g.xl].join('\n')}\n`);
    },
    (e: Error) => {
      process.stderr.write(`ensure: ${e.message}\n`);
      process.exit(1);
    },
  );
}
