/** `pagepress xen inspect [FILE] [--json] [--colo]`: check a Xen stream and list its headers and records. */
import { isPagepressError } from '../../errors';
import { readSome } from '../../stream/fd-io';
import { XenReader, XenRecordInfo, XenStreamError, XenSummary } from '../../xen/reader';
import { XenInspectFlags } from '../args';
import { describePagepressError, isEpipe, reportError, SilentExit } from '../exit';
import { openInput } from '../io';
import { formatBytes } from '../progress';

const READ_BYTES = 1024 * 1024;

function out(text: string): void {
  process.stdout.write(text);
}

function typesText(types: Record<string, number>): string {
  return Object.entries(types)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
}

function recordRow(r: XenRecordInfo): string {
  let line = `${r.layer.padEnd(6)} ${r.name.padEnd(26)} offset ${String(r.offset).padStart(12)}  length ${String(r.bodyLength).padStart(10)}`;
  if (r.pages) line += `  pages ${r.pages.count} (${r.pages.dataPages} with data): ${typesText(r.pages.types)}`;
  return `${line}\n`;
}

function summaryText(s: XenSummary): string {
  const lines: string[] = [];
  const guest = s.guest ? `, ${s.guest.toUpperCase()} guest` : '';
  const libxc = s.libxcVersion ? `, libxc v${s.libxcVersion}` : '';
  const xen = s.xen ? (s.xen.startsWith('converted') ? ` (${s.xen} by convert-legacy-stream)` : ` from Xen ${s.xen}`) : '';
  lines.push(`stream:  ${s.format} format, layers ${s.layers.join(' > ') || 'none'}${guest}${libxc}${xen}`);
  const records = Object.entries(s.records)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  lines.push(`records: ${records || 'none'}`);
  const p = s.pages;
  lines.push(`pages:   ${p.records} PAGE_DATA records, ${p.count} entries, ${p.dataPages} with data (${formatBytes(p.dataPages * 4096)})${p.count ? `: ${typesText(p.types)}` : ''}`);
  if (s.checkpoints || s.checkpointEnds) lines.push(`checkpoints: ${s.checkpoints} libxc CHECKPOINT, ${s.checkpointEnds} libxl CHECKPOINT_END`);
  if (s.legacyBytes) lines.push(`legacy:  ${s.legacyBytes} bytes passed through unchecked`);
  if (s.trailingBytes) lines.push(`trailing: ${s.trailingBytes} bytes after the last END`);
  const ending = s.ending === 'END' ? 'END' : s.ending === 'failover' ? 'after a complete checkpoint (failover point, no END)' : 'inside the legacy stream';
  lines.push(`end:     ok, ${s.bytes} bytes (${formatBytes(s.bytes)}), ended ${ending}`);
  return `${lines.join('\n')}\n`;
}

/** `pagepress xen inspect [FILE]`: checks a Xen stream as Xen's restore would and lists its headers and records (text or --json). */
export async function xenInspect(file: string | undefined, options: XenInspectFlags): Promise<void> {
  const json = options.json === true;
  const input = openInput(file, { refuseTerminal: true, force: false });
  // A reader that closes our stdout early (xen inspect x | head) ends the command quietly.
  process.stdout.on('error', (err) => {
    process.exitCode = reportError('xen inspect', err);
  });
  const records: XenRecordInfo[] = [];
  let text = '';
  const reader = new XenReader(
    {
      verbatim() {},
      pageRecord() {},
      pageBytes() {},
      flushPoint() {},
      record(info) {
        if (json) records.push(info);
        else text += recordRow(info);
      },
    },
    { format: 'auto', colo: options.colo === true, legacy: 'refuse' },
  );
  const buf = Buffer.allocUnsafe(READ_BYTES);
  let position: number | null = input.stat?.isFile() ? 0 : null;
  try {
    for (;;) {
      const n = await readSome(input.fd, buf, 0, buf.length, position);
      if (n === 0) break;
      if (position !== null) position += n;
      try {
        reader.push(buf.subarray(0, n));
      } finally {
        if (text) out(text); // rows of the records read so far, also when the next one is bad
        text = '';
      }
    }
    const summary = reader.end();
    if (json) out(`${JSON.stringify({ ok: true, file: input.name, records, summary })}\n`);
    else out(summaryText(summary));
  } catch (err) {
    if (json && isPagepressError(err)) {
      const x = err instanceof XenStreamError ? err : null;
      out(
        `${JSON.stringify({
          ok: false,
          file: input.name,
          records,
          error: {
            code: err.code,
            message: describePagepressError(err),
            offset: err.offset,
            layer: x?.layer ?? null,
            record: x?.recordName ?? null,
            recordType: x?.recordType ?? null,
            recordOffset: x?.recordOffset ?? null,
          },
        })}\n`,
      );
    }
    if (isEpipe(err)) throw new SilentExit(1);
    throw new SilentExit(reportError('xen inspect', err));
  } finally {
    input.close();
  }
}
