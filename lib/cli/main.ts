#!/usr/bin/env node
/**
 * The `pagepress` command line: parses arguments (args.ts), runs one command
 * (commands/*.ts) and sets process.exitCode (exit.ts). It never calls process.exit(),
 * so pending writes to stdout and stderr always complete.
 */
import './early';
import { buildProgram } from './args';
import { ExitCode, isEpipe, reportError } from './exit';
import type * as CompressCommand from './commands/compress';
import type * as DecompressCommand from './commands/decompress';
import type * as InspectCommand from './commands/inspect';
import type * as XenInspectCommand from './commands/xen-inspect';
import type * as XenSshCommand from './commands/xen-ssh';
import type * as MigrateCommand from './commands/migrate';
import type * as PlanCommand from './commands/plan';
import type * as PredictCommand from './commands/predict';

// Each command's modules load only when it runs: start-up is a visible part of a short run.
/* eslint-disable @typescript-eslint/no-require-imports -- lazy, typed loads: an import would load every command at start-up */
const commands = {
  compress: () => require('./commands/compress') as typeof CompressCommand,
  decompress: () => require('./commands/decompress') as typeof DecompressCommand,
  inspect: () => require('./commands/inspect') as typeof InspectCommand,
  xenInspect: () => require('./commands/xen-inspect') as typeof XenInspectCommand,
  xenSsh: () => require('./commands/xen-ssh') as typeof XenSshCommand,
  migrate: () => require('./commands/migrate') as typeof MigrateCommand,
  plan: () => require('./commands/plan') as typeof PlanCommand,
  predict: () => require('./commands/predict') as typeof PredictCommand,
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** Runs the command line on `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let command: string | null = null;
  const program = buildProgram({
    compress: (file, flags) => ((command = 'compress'), commands.compress().compress(file, flags)),
    decompress: (file, flags) => ((command = 'decompress'), commands.decompress().decompress(file, flags)),
    inspect: (file, flags) => ((command = 'inspect'), commands.inspect().inspect(file, flags)),
    xenInspect: (file, flags) => ((command = 'xen inspect'), commands.xenInspect().xenInspect(file, flags)),
    xenSsh: (host, cmd, flags) => ((command = 'xen ssh'), commands.xenSsh().xenSsh(host, cmd, flags)),
    migrateReceive: (flags) => ((command = 'migrate receive'), commands.migrate().migrateReceive(flags)),
    migrateSend: (flags) => ((command = 'migrate send'), commands.migrate().migrateSend(flags)),
    plan: (flags) => ((command = 'plan'), commands.plan().plan(flags)),
    predict: (flags) => ((command = 'predict'), commands.predict().predict(flags)),
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCode.OK;
  } catch (err) {
    return reportError(command, err);
  }
}

if (require.main === module) {
  // Last resort: anything that escapes the commands is one line and exit 1, not a stack dump.
  const fatal = (err: unknown) => {
    process.exitCode = isEpipe(err) ? ExitCode.FAILURE : reportError(null, err);
    if (process.exitCode === ExitCode.OK) process.exitCode = ExitCode.FAILURE;
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  // Rejections reach the unhandledRejection handler above.
  void main(process.argv.slice(2)).then((code) => {
    if (!process.exitCode) process.exitCode = code;
  });
}
