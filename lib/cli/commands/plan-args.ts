/**
 * Options of `pagepress plan` and their value parsers. Every value is checked while
 * parsing (exit 2 before any file is read); the checks that need two options at once are
 * in checkPlanFlags, run first by the command. Loads nothing of the planner itself.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { POLICY_NAMES, PolicyName } from '../../migration/policy';
import { UsageError } from '../exit';
import { estimatedCodecOption } from '../codec-options';
import { nonNegative, positive } from '../parsers';

/** Manager choices of --manager (`all` runs the three on the same trace). */
export const PLAN_MANAGERS = ['rule-based', 'rule-based-no-aging', 'fcfs', 'all'] as const;

/** Options of `plan` (raw, as parsed). */
export interface PlanFlags {
  hosts?: string;
  requests?: string;
  manager: (typeof PLAN_MANAGERS)[number];
  /** Aging threshold, s. */
  agingThreshold: number;
  json?: boolean;
  quiet?: boolean;
  plot?: string;
  emit?: 'xl' | 'virsh';
  publicLinkMbps?: number;
  publicLatencyMs?: number;
  codec: string;
  policy: PolicyName;
  /** Print a synthetic trace of N requests instead of planning. */
  generate?: number;
  seed: number;
  csv?: boolean;
}

/** What the plan command does once parsed (main.ts supplies it through Handlers). */
export interface PlanHandlers {
  plan(flags: PlanFlags): Promise<void>;
}

function intIn(min: number, max: number) {
  return (text: string): number => {
    if (!/^\s*\d+\s*$/.test(text) || Number(text) < min || Number(text) > max) throw new InvalidArgumentError(`expected an integer in ${min}..${max}.`);
    return Number(text);
  };
}

/** Checks the options that depend on each other. @throws UsageError (exit 2) */
export function checkPlanFlags(f: PlanFlags): void {
  if (f.generate !== undefined) {
    if (f.hosts || f.requests) throw new UsageError('plan: --generate prints a trace; it takes no --hosts or --requests');
    return;
  }
  if (f.csv) throw new UsageError('plan: --csv is for --generate');
  if (!f.hosts) throw new UsageError("plan: required option '--hosts <FILE>' not specified");
  if (!f.requests) throw new UsageError("plan: required option '--requests <FILE>' not specified");
  if (f.json && f.quiet) throw new UsageError('plan: --json and --quiet exclude each other');
}

const HELP = `
Simulates a resource manager serving the trace's VM requests on the private hosts, moving
low-priority guests to the public cloud when high-priority requests need room (the seed's
Algorithm 1; docs/PLANNER.md). Relocation costs come from the migration predictor
(lib/predict) over the public link of hosts.json, or of the --public-* flags.

Prints each decision with its reason, then a summary table (one column per manager
with --manager all). --quiet prints the table only; --json one JSON report.

Examples:
  pagepress plan --generate 1000 --seed 7 > trace.json
  pagepress plan --hosts hosts.json --requests trace.json --manager all --quiet
  pagepress plan --hosts hosts.json --requests trace.csv --emit xl --plot plots/

Exit status: 0 success; 1 bad input (the message names the file, line or index, and
field); 2 usage error.`;

/** Registers `plan` on `program`. */
export function addPlanCommand(program: Command, handlers: PlanHandlers): void {
  program
    .command('plan')
    .description('simulate the rule-based resource manager (private + public cloud) on a request trace')
    .option('--hosts <FILE>', 'hosts.json: private hosts and the public cloud')
    .option('--requests <FILE>', 'request trace: JSON array, or CSV with a header row (.csv)')
    .addOption(new Option('--manager <NAME>', 'manager; all = the three side by side').choices(PLAN_MANAGERS as readonly string[]).default('rule-based'))
    .addOption(new Option('--aging-threshold <S>', 'seconds of waiting per aging step').argParser(positive).default(600))
    .option('--json', 'print one JSON report on stdout')
    .option('-q, --quiet', 'print the summary table only')
    .option('--plot <DIR>', 'write utilisation.svg and queue.svg to DIR')
    .addOption(new Option('--emit <TOOL>', 'dry run: print the migration commands an operator would run').choices(['xl', 'virsh']))
    .addOption(new Option('--public-link-mbps <N>', 'link rate to the public cloud, Mbit/s (overrides hosts.json)').argParser(positive))
    .addOption(new Option('--public-latency-ms <N>', 'latency to the public cloud, ms (overrides hosts.json)').argParser(nonNegative))
    .addOption(estimatedCodecOption('codec the predictor prices migrations with (its built-in profile)'))
    .addOption(new Option('--policy <NAME>', 'stop policy the predictor simulates').choices(POLICY_NAMES as readonly string[]).default('adaptive'))
    .addOption(new Option('--generate <N>', 'print a synthetic trace of N requests (docs/PLANNER.md) instead').argParser(intIn(1, 1_000_000)))
    .addOption(new Option('--seed <S>', 'seed of --generate').argParser(intIn(0, 0xffffffff)).default(1))
    .option('--csv', 'with --generate: print CSV instead of JSON')
    .addHelpText('after', HELP)
    .action(async (flags: PlanFlags) => handlers.plan(flags));
}
