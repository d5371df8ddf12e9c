/** `pagepress decompress [FILE] [-o OUT]` (and `pagepress -d`): a pagepress stream in, the original bytes out. */
import type * as Files from '../../stream/files';
import { CommonOptions } from '../args';
import { reportError, SilentExit } from '../exit';
import { Input, openInput, openOutput, Output, outputSize } from '../io';
import { createProgress } from '../progress';
import { END_FRAME_BYTES, printSummary } from '../summary';

/** `pagepress decompress [FILE]`: decodes FILE (or stdin) to OUT (or stdout); on bad input OUT keeps every good frame. */
export async function decompress(file: string | undefined, flags: CommonOptions): Promise<void> {
  const force = flags.force === true;
  let input: Input | null = null;
  let output: Output;
  try {
    input = openInput(file, { refuseTerminal: true, force });
    output = openOutput(flags.output, input, { refuseTerminal: false, force, replaceLater: true });
  } catch (err) {
    input?.close();
    throw err;
  }
  // The decoding modules load only now, while a replaced OUT is being freed (open first).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: loads while a replaced OUT is being freed (see above)
  const { decodeFd } = require('../../stream/files') as typeof Files;
  const progress = createProgress(flags.progress === true && !flags.quiet, 'decompress', input.size);
  const started = process.hrtime.bigint();
  try {
    const { totals } = await decodeFd(input.fd, output.fd, { threads: flags.threads }, (t) => progress.update(t.streamBytes, t.rawBytes));
    progress.stop();
    output.close();
    if (flags.json && !flags.quiet) {
      const streamBytes = totals.streamBytes + END_FRAME_BYTES;
      printSummary({
        command: 'decompress',
        input: input.name,
        output: output.name,
        inputBytes: streamBytes,
        outputBytes: totals.rawBytes,
        rawBytes: totals.rawBytes,
        streamBytes,
        seconds: Number(process.hrtime.bigint() - started) / 1e9,
        frames: totals.frames,
        pages: totals.pages,
        kinds: totals.kinds,
        codecs: null,
      });
    }
  } catch (err) {
    progress.stop();
    // The decoder wrote every frame before the bad one and nothing after it: keep that prefix.
    let suffix = '';
    if (output.path) {
      const kept = outputSize(output);
      suffix = `; ${output.path} keeps the ${kept === undefined ? '' : `${kept} `}bytes decoded before the error`;
      try {
        output.close();
      } catch {
        // reported below
      }
    }
    // decodeFd has no read in flight once it rejects (it reads ahead only when encoding).
    input.close();
    throw new SilentExit(reportError('decompress', err, suffix));
  }
  input.close();
  await output.released;
}
