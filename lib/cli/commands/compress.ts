/** `pagepress compress [FILE] [-o OUT]`: raw bytes in, a pagepress stream out. */
import { longWindowLogOf } from '../codec-options';
import { encodeFd, encodeThrough } from '../../stream/files';
import { readHeadAt, sniff, Sniffed } from '../../stream/fd-io';
import { detectXen, XEN_SIGNATURE_BYTES } from '../../xen/detect';
import { XenEncoder } from '../../xen/filter';
import { EncoderOptions, resolveEncoderOptions } from '../../stream/options';
import { ErrorCodes, isPagepressError } from '../../errors';
import { checkLevel, CompressFlags } from '../args';
import { cliOptionMessage, reportError, SilentExit, UsageError } from '../exit';
import { Input, openInput, openOutput, Output, removeOutput } from '../io';
import { createProgress } from '../progress';
import { END_FRAME_BYTES, printSummary } from '../summary';

/** Library options from the flags, validated by the library itself before any file is opened. */
export function encoderOptions(flags: CompressFlags): EncoderOptions {
  checkLevel(flags.codec, flags.level);
  const options: EncoderOptions = {
    codec: flags.codec,
    level: flags.level,
    threads: flags.threads,
    pageSize: flags.pageSize,
    batchPages: flags.batchPages,
    cacheSlots: flags.cacheSlots,
    longWindowLog: longWindowLogOf(flags.long),
  };
  try {
    resolveEncoderOptions(options);
  } catch (err) {
    if (isPagepressError(err) && err.code === ErrorCodes.ARG) throw new UsageError(cliOptionMessage(err.message));
    throw err;
  }
  return options;
}

/** `pagepress compress [FILE]`: encodes FILE (or stdin) to OUT (or stdout); throws on failure, leaving no partial OUT. */
export async function compress(file: string | undefined, flags: CompressFlags): Promise<void> {
  const options = encoderOptions(flags);
  const force = flags.force === true;
  let input: Input | null = null;
  let output: Output;
  try {
    input = openInput(file, { refuseTerminal: false, force });
    output = openOutput(flags.output, input, { refuseTerminal: true, force });
  } catch (err) {
    input?.close();
    throw err;
  }
  const progress = createProgress(flags.progress === true && !flags.quiet, 'compress', input.size);
  const started = process.hrtime.bigint();
  const onProgress = (t: { rawBytes: number; streamBytes: number }) => progress.update(t.rawBytes, t.streamBytes);
  try {
    let format = flags.format ?? 'auto';
    let start: Sniffed | undefined;
    if (format === 'auto') {
      // Look at the first bytes. A file is read in place; from a pipe they are consumed
      // (and lead the input), and a pause before 8 bytes have come means "not Xen".
      let head: Buffer;
      if (input.stat?.isFile()) head = await readHeadAt(input.fd, XEN_SIGNATURE_BYTES);
      else head = (start = await sniff(input.fd, XEN_SIGNATURE_BYTES, options.flushDelayMs ?? 2)).bytes;
      format = detectXen(head) ? 'xen' : 'raw';
    }
    const totals =
      format === 'xen'
        ? await encodeThrough(new XenEncoder({ ...options, colo: flags.colo, legacy: flags.legacy }), input.fd, output.fd, onProgress, start)
        : await encodeFd(input.fd, output.fd, options, onProgress, start);
    progress.stop();
    output.close();
    if (flags.json && !flags.quiet) {
      const streamBytes = totals.streamBytes + END_FRAME_BYTES;
      printSummary({
        command: 'compress',
        format,
        input: input.name,
        output: output.name,
        inputBytes: totals.rawBytes,
        outputBytes: streamBytes,
        rawBytes: totals.rawBytes,
        streamBytes,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        frames: totals.frames,
        pages: totals.pages,
        kinds: totals.kinds,
        codecs: totals.codecs,
      });
    }
  } catch (err) {
    progress.stop();
    // A partial stream is useless (no END frame): remove the file we created.
    let suffix = '';
    if (output.path) {
      removeOutput(output);
      suffix = `; removed ${output.path}`;
    }
    throw new SilentExit(reportError('compress', err, suffix));
  } finally {
    input.close();
  }
}
