/** `pagepress xen inspect [FILE] [--json]`: check a Xen stream and list its records. (to be written) */
import { XenInspectFlags } from '../args';
import { UsageError } from '../exit';

/** Runs `xen inspect`. */
export async function xenInspect(_file: string | undefined, _flags: XenInspectFlags): Promise<void> {
  throw new UsageError('xen inspect is not implemented yet');
}
