/** `pagepress xen ssh HOST COMMAND...`: drop-in for ssh in `xl migrate -s`. (to be written) */
import { XenSshFlags } from '../args';
import { UsageError } from '../exit';

/** Runs `xen ssh`. */
export async function xenSsh(_host: string, _command: string[], _flags: XenSshFlags): Promise<void> {
  throw new UsageError('xen ssh is not implemented yet');
}
