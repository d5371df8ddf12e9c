/** `pagepress inspect [FILE] [--json] [--frames]`: check a stream and describe it. */
import { inspectStream, FrameReport, InspectReport, KindCounts } from '../../format/inspect';
import { StreamHeader } from '../../format/frame';
import { InspectFlags } from '../args';
import { describePagepressError, isEpipe, reportError, SilentExit } from '../exit';
import { openInput } from '../io';
import { isPagepressError } from '../../errors';
import { formatBytes } from '../progress';
import { StreamFlags } from '../../format/constants';

function out(text: string): void {
  process.stdout.write(text);
}

function kindsText(k: KindCounts): string {
  return `zero ${k.zero}, literal ${k.literal}, dup ${k.dup}, unchanged ${k.unchanged}, delta ${k.delta}`;
}

function headerText(h: StreamHeader): string {
  const flags = h.flags & StreamFlags.RAW ? 'raw byte stream' : h.flags & StreamFlags.XEN ? 'Xen stream' : 'page stream';
  const id = h.version > 1 ? `, id ${streamIdText(h)}` : '';
  const long = (h.longWindowLog ?? 0) > 0 ? `, long-range window 2^${h.longWindowLog}` : '';
  return `stream:  pagepress v${h.version}, ${flags}, page size ${h.pageSize}, batch ${h.batchPages} pages, page cache ${h.cacheSlots} slots${long}${id}\n`;
}

/** The stream id as 16 hex digits (JSON has no 64-bit integers). */
function streamIdText(h: StreamHeader): string {
  return (h.streamId ?? 0n).toString(16).padStart(16, '0');
}

const COLUMNS = ['frame', 'offset', 'type', 'codec', 'pages', 'image', 'body', 'ratio', 'zero', 'literal', 'dup', 'unchanged', 'delta'];
const WIDTHS = [6, 12, 5, 7, 6, 10, 10, 7, 6, 8, 6, 9, 6];

function row(cells: Array<string | number>): string {
  return cells.map((c, i) => String(c).padStart(WIDTHS[i])).join(' ') + '\n';
}

function frameRow(f: FrameReport): string {
  const k = f.kinds;
  return row([f.index, f.offset, f.type, f.codec, f.pages, f.rawLength, f.bodyLength, f.ratio.toFixed(2), k.zero, k.literal, k.dup, k.unchanged, k.delta]);
}

function summaryText(r: InspectReport): string {
  const t = r.totals;
  const codecs =
    Object.entries(t.codecs)
      .map(([name, n]) => `${name} ${n}`)
      .join(', ') || 'none (no batch frames)';
  const digest = r.end.digest >= 0 ? ', digest' : '';
  return (
    `frames:  ${t.frames - t.verbatimFrames} batch frames${t.verbatimFrames > 0 ? ` + ${t.verbatimFrames} verbatim` : ''} + END, ${t.pages} pages\n` +
    `bytes:   ${t.rawBytes} decoded (${formatBytes(t.rawBytes)}) in ${t.totalBytes} stream bytes (${formatBytes(t.totalBytes)}), ratio ${t.ratio.toFixed(3)}\n` +
    `codecs:  ${codecs}\n` +
    `kinds:   ${kindsText(t.kinds)}\n` +
    `END:     ok at offset ${t.streamBytes} (frames, pages, bytes${digest} and stream length match)\n`
  );
}

/** `pagepress inspect [FILE]`: checks a stream and prints its header, frames, codecs and page kinds (text or --json). */
export async function inspect(file: string | undefined, options: InspectFlags): Promise<void> {
  const flags = { json: options.json === true, frames: options.frames === true };
  const input = openInput(file, { refuseTerminal: true, force: false });
  // A reader that closes our stdout early (inspect x | head) ends the command quietly.
  process.stdout.on('error', (err) => {
    process.exitCode = reportError('inspect', err);
  });
  let header: StreamHeader | null = null;
  const frames: FrameReport[] = [];
  try {
    const report = await inspectStream(input.fd, {
      keepFrames: flags.json && flags.frames,
      onHeader: (h) => {
        header = h;
        if (!flags.json) out(headerText(h) + (flags.frames ? row(COLUMNS) : ''));
      },
      onFrame: (f) => {
        if (flags.json) frames.push(f);
        else if (flags.frames) out(frameRow(f));
      },
    });
    if (flags.json) {
      out(`${JSON.stringify({ ok: true, file: input.name, ...report, frames: flags.frames ? report.frames : undefined })}\n`);
    } else {
      out(summaryText(report));
    }
  } catch (err) {
    if (flags.json && isPagepressError(err)) {
      out(
        `${JSON.stringify({
          ok: false,
          file: input.name,
          header: header ? { ...(header as StreamHeader), streamId: streamIdText(header) } : null,
          frames: flags.frames ? frames : undefined,
          error: { code: err.code, message: describePagepressError(err), offset: err.offset, frame: err.frame },
        })}\n`,
      );
    }
    if (isEpipe(err)) throw new SilentExit(1);
    throw new SilentExit(reportError('inspect', err));
  } finally {
    input.close();
  }
}
