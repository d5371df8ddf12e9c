/**
 * `pagepress xen ssh HOST COMMAND...`: drop-in for ssh in `xl migrate -s` (lib/xen/ssh.ts).
 * Exit status: the remote side's (as ssh passes it on), 1 when the local encoder failed or
 * the remote side ended without a status, 2 for usage errors, 128+n when stopped by signal n.
 * Nothing is ever written to stdout by this process: stdout is the reverse channel, owned
 * by the rsh child.
 */
import { runXenSsh } from '../../xen/ssh';
import { XenSshFlags } from '../args';
import { ExitCodeValue, printError, SilentExit, UsageError } from '../exit';
import { encoderOptions } from './compress';

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Runs `xen ssh`; throws SilentExit with the exit status when it is not 0. */
export async function xenSsh(host: string, command: string[], flags: XenSshFlags): Promise<void> {
  if (command.length === 0) throw new UsageError('a remote command is required, as in `xen ssh HOST xl migrate-receive`');
  const encoder = encoderOptions({ codec: flags.codec, level: flags.level, threads: flags.threads, long: flags.long });
  // A signal to us stops the remote side too (and is then our exit status, 128+n).
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => abort.abort(sig);
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  try {
    const r = await runXenSsh({
      host,
      command,
      rsh: flags.rsh,
      remotePagepress: flags.remotePagepress,
      encoder,
      signal: abort.signal,
      format: flags.format,
      colo: flags.colo ? true : undefined,
    });
    if (r.exitCode === 0) {
      if (!flags.quiet) {
        const raw = r.totals.rawBytes;
        const ratio = r.totals.streamBytes > 0 ? (raw / r.totals.streamBytes).toFixed(2) : '-';
        printError(`xen ssh: sent ${mib(raw)} (${r.format ?? 'raw'}) as ${mib(r.totals.streamBytes)} (${ratio}:1) in ${r.seconds.toFixed(1)} s`);
      }
      return;
    }
    if (r.message) printError(`xen ssh: ${r.message}`);
    // The remote status passes through unchanged, as ssh does; it may be outside 0..2.
    throw new SilentExit(r.exitCode as ExitCodeValue);
  } finally {
    for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
  }
}
