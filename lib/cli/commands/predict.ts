/** `pagepress predict`: the migration predictor from the command line. */
import * as fs from 'node:fs';
import { ErrorCodes, PagepressError } from '../../errors';
import { readTrace } from '../../migration/guests/trace-guest';
import { avgModelFromTrace, CodecProfile, DEFAULT_PROFILES, DirtyModel, histModelFromTrace, migrationCost, predictMigration, workloadDirtyModel } from '../../predict';
import { checkPredictFlags, PredictFlags } from './predict-args';

const MiB = 1024 * 1024;

/** A codec profile from a JSON file; PP_ERR_ARG naming the file and the field. */
function loadProfile(file: string): CodecProfile {
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new PagepressError(`${file}: not a JSON codec profile (${(err as Error).message})`, ErrorCodes.FORMAT);
  }
  if (p && typeof p === 'object' && 'profile' in p && typeof p.profile === 'object') p = p.profile as Record<string, unknown>;
  for (const k of ['firstBytesPerPage', 'resentHitBytesPerPage', 'resentMissBytesPerPage', 'encodePagesPerSec', 'decodePagesPerSec']) {
    const v = p?.[k];
    if (typeof v !== 'number' || !(v > 0)) throw new PagepressError(`${file}: field "${k}" must be a number > 0, got ${JSON.stringify(v)}`, ErrorCodes.FORMAT);
  }
  return p as unknown as CodecProfile;
}

/** Runs `predict` with parsed flags. @throws PagepressError (bad input, exit 1), UsageError (exit 2) */
export async function predict(flags: PredictFlags): Promise<void> {
  checkPredictFlags(flags);
  let dirty: DirtyModel;
  let pageCount: number;
  if (flags.trace) {
    const trace = readTrace(flags.trace);
    pageCount = flags.memory !== undefined ? flags.memory / 4096 : trace.pageCount;
    if (pageCount !== trace.pageCount) throw new PagepressError(`${flags.trace}: the trace is of a guest of ${trace.pageCount} pages, not ${pageCount} (--memory)`, ErrorCodes.FORMAT);
    dirty = flags.model === 'avg' ? avgModelFromTrace(trace) : histModelFromTrace(trace);
  } else {
    pageCount = flags.memory! / 4096;
    dirty = workloadDirtyModel(flags.workload, pageCount, flags.dirtyRate);
  }
  const codec = flags.profile ? loadProfile(flags.profile) : DEFAULT_PROFILES[flags.codec];
  const p = predictMigration({
    pageCount,
    dirty,
    codec,
    link: { bytesPerSec: flags.link / 8, latencyMs: flags.latency },
    policy: flags.policy,
    policyOptions: { downtimeTargetMs: flags.downtimeTarget, maxIterations: flags.maxIterations },
  });
  const cost = migrationCost(p, flags.weights);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ pageCount, link: { bitsPerSec: flags.link, latencyMs: flags.latency }, dirty: dirty.describe(), codec, policy: flags.policy, prediction: p, cost })}\n`);
    return;
  }
  const lines = [
    `guest ${(pageCount * 4096) / MiB} MiB, ${dirty.name.toUpperCase()} ${JSON.stringify(dirty.describe())}`,
    `link ${flags.link / 1e6} Mbit/s, ${flags.latency} ms; codec ${codec.codec}; policy ${flags.policy}`,
    '',
    'iteration  pages      MiB     ms',
    ...p.iterations.map(
      (it) => `${String(it.iteration).padStart(9)}${it.final ? '*' : ' '} ${String(it.pages).padStart(8)} ${(it.wireBytes / MiB).toFixed(1).padStart(8)} ${it.ms.toFixed(0).padStart(6)}`,
    ),
    '(* paused: the final copy)',
    '',
    `total time  ${(p.totalMs / 1000).toFixed(2)} s`,
    `downtime    ${p.downtimeMs.toFixed(1)} ms`,
    `on the wire ${(p.wireBytes / MiB).toFixed(1)} MiB`,
    `stop        ${p.stopReason}`,
    `energy      ${cost.energyJ.toFixed(0)} J`,
    `cost        ${cost.cost.toFixed(1)} (downtime ${cost.terms.downtime.toFixed(2)}, time ${cost.terms.time.toFixed(2)}, volume ${cost.terms.volume.toFixed(1)}, energy ${cost.terms.energy.toFixed(1)})`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
