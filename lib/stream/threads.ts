/** The default thread count, in a module of its own: the CLI reads it before anything else loads (cli/early.ts). */
import * as os from 'node:os';

/** Default worker count: the cores Node may use. */
export function defaultThreads(): number {
  return Math.max(1, Math.min(64, os.availableParallelism()));
}
