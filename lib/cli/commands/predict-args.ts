/**
 * Options of `pagepress predict` and their value parsers (exit 2 on a bad value, before any
 * file is read). Loads nothing of the predictor itself.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { POLICY_NAMES, PolicyName } from '../../migration/policy';
import type * as GuestParse from '../../migration/guests/parse';
import { UsageError } from '../exit';
import { estimatedCodecOption } from '../codec-options';
import { nonNegative, positive } from '../parsers';

/** Options of `predict` (as parsed). */
export interface PredictFlags {
  memory?: number;
  workload: string;
  dirtyRate?: number;
  trace?: string;
  model: 'hist' | 'avg';
  link: number;
  latency: number;
  codec: string;
  profile?: string;
  policy: PolicyName;
  downtimeTarget?: number;
  maxIterations?: number;
  weights?: { a: number; b: number; c: number; d: number };
  json?: boolean;
}

/** What the predict command does once parsed (main.ts supplies it). */
export interface PredictHandlers {
  predict(flags: PredictFlags): Promise<void>;
}

const LINK_UNITS: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9 };

/** A link rate in bits/s: 100M, 1G, 2.5G, 10000000. */
export function parseLinkRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)(?:bit\/s|bps)?$/i.exec(text.trim());
  if (!m || Number(m[1]) <= 0) throw new InvalidArgumentError('expected a rate in bits/s such as 100M, 1G or 2.5G.');
  return Number(m[1]) * LINK_UNITS[m[2].toUpperCase()];
}

function memory(text: string): number {
  try {
    // Loaded on use: the guest parsers are not needed to start any other command.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: the size parser loads only when --memory is given
    const n = (require('../../migration/guests/parse') as typeof GuestParse).parseSize(text, '--memory');
    if (n < 4096 || n % 4096 !== 0) throw new Error();
    return n;
  } catch {
    throw new InvalidArgumentError('expected a size that is a multiple of 4 KiB, such as 512M or 4G.');
  }
}

function weights(text: string): PredictFlags['weights'] {
  const v = text.split(',').map(Number);
  if (v.length !== 4 || v.some((x) => !Number.isFinite(x) || x < 0)) throw new InvalidArgumentError('expected four numbers >= 0: a,b,c,d.');
  return { a: v[0], b: v[1], c: v[2], d: v[3] };
}

/** Checks that need two options at once. @throws UsageError (exit 2) */
export function checkPredictFlags(f: PredictFlags): void {
  if (f.memory === undefined && !f.trace) throw new UsageError('predict: give the guest size (--memory) or a dirty-page trace of it (--trace)');
  if (f.trace && f.dirtyRate !== undefined) throw new UsageError('predict: --dirty-rate is for a guest without a trace');
}

const HELP = `
Predicts a pre-copy migration before it runs (docs/PLANNER.md, "Predictor"): iterations,
total time, downtime, bytes on the wire, and the cost C = a*Tdown + b*Tmig + c*Vmig +
d*Emig (seconds, seconds, MiB, joules; Liu et al. 2011).

The guest's dirty pages come from a trace of it (--trace, recorded with the migration
engine's trace format: HIST, its writable working set, or AVG, its mean rate) or, without
one, from its workload's write rate capped at the memory the workload touches. Page costs
come from the codec's built-in profile, or from a profile measured on the guest (--profile:
the JSON of profileCodec(), e.g. a record's "profile" in npm run predict-eval's results).

Examples:
  pagepress predict --memory 4G --workload webserver --link 1G --latency 1
  pagepress predict --trace guest.trace --link 100M --policy xen --json

Exit status: 0 success; 1 bad input (a trace or profile that cannot be read); 2 usage error.`;

/** Registers `predict` on `program`. */
export function addPredictCommand(program: Command, handlers: PredictHandlers): void {
  program
    .command('predict')
    .description('predict the time, downtime, bytes and cost of migrating a guest')
    .addOption(new Option('--memory <SIZE>', "guest memory (512M, 4G); default: the trace's").argParser(memory))
    .addOption(new Option('--workload <NAME>', 'without a trace: what the guest does').choices(['idle', 'pagecache', 'hotset', 'inplace', 'webserver']).default('webserver'))
    .addOption(new Option('--dirty-rate <N>', "without a trace: page writes per second (default: the workload's)").argParser(nonNegative))
    .option('--trace <FILE>', 'dirty-page trace of the guest (docs/MIGRATION-GUESTS.md)')
    .addOption(new Option('--model <NAME>', 'dirty model learned from --trace').choices(['hist', 'avg']).default('hist'))
    .addOption(new Option('--link <RATE>', 'link rate, bits/s (100M, 1G, 10G)').argParser(parseLinkRate).default(1e9, '1G'))
    .addOption(new Option('--latency <MS>', 'one-way latency, ms').argParser(nonNegative).default(0.5))
    .addOption(estimatedCodecOption('codec (its built-in profile)'))
    .addOption(new Option('--profile <FILE>', 'codec profile measured on the guest (JSON), instead of --codec').conflicts('codec'))
    .addOption(new Option('--policy <NAME>', 'stop policy').choices(POLICY_NAMES as readonly string[]).default('adaptive'))
    .addOption(new Option('--downtime-target <MS>', 'adaptive: the downtime to aim for (default 300)').argParser(positive))
    .addOption(new Option('--max-iterations <N>', "most live iterations (default: the policy's)").argParser(positive))
    .addOption(new Option('--weights <A,B,C,D>', 'cost weights of Tdown, Tmig, Vmig, Emig (default 1,1,1,1)').argParser(weights))
    .option('--json', 'print one JSON report')
    .addHelpText('after', HELP)
    .action(async (flags: PredictFlags) => handlers.predict(flags));
}
