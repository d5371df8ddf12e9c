/**
 * The `--codec` and `--level` options of every command that takes them, built from the
 * codec registry, so that a new codec shows up in each choice list and help text at once.
 */
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_LONG_WINDOW_LOG, MAX_LONG_WINDOW_LOG, MIN_LONG_WINDOW_LOG } from '../codec/long-range';
import { CODEC_CHOICES, CODECS, DEFAULT_CODEC, CodecName } from '../codec/registry';

/** "zstd -7..19 (default 1), deflate 0..9 (default 1), lz4 1, none 0": the accepted levels of each codec. */
export function levelHelp(): string {
  const ranges = CODECS.map((c) => {
    const { min, max } = c.levels;
    return min === max ? `${c.name} ${min}` : `${c.name} ${min}..${max} (default ${c.levels.default})`;
  });
  return `codec level: ${ranges.join(', ')}`;
}

/** "none: stored ..., zstd: one Zstandard frame ..., auto: chosen per batch": what each choice is. */
export function codecHelp(): string {
  return `codec: ${CODECS.map((c) => `${c.name} (${c.description})`).join(', ')}, or auto (one of these per batch)`;
}

/** `--codec <NAME>`: any wire codec or auto, default {@link DEFAULT_CODEC}. */
export function codecOption(): Option {
  return new Option('--codec <NAME>', codecHelp()).choices(CODEC_CHOICES).default(DEFAULT_CODEC);
}

/**
 * `--codec <NAME>` of the predictor's commands: the codecs that have a built-in estimate
 * (auto has none: its mix depends on the link).
 */
export function estimatedCodecOption(description: string): Option {
  const names: CodecName[] = CODECS.flatMap((c) => (c.estimate ? [c.name] : []));
  return new Option('--codec <NAME>', description).choices(names).default(DEFAULT_CODEC);
}

/**
 * `--long [WLOG]` of compress, xen ssh and migrate send: long-range matching across the
 * whole stream (docs/FORMAT.md 2.9), as `zstd --long`; `what` names the stream in the help.
 */
export function longOption(what = 'stream'): Option {
  return new Option(
    '--long [WLOG]',
    `long-range matching across the whole ${what}, window 2^WLOG bytes, ${MIN_LONG_WINDOW_LOG}..${MAX_LONG_WINDOW_LOG} (default ${DEFAULT_LONG_WINDOW_LOG}: 256 MiB; the decoder holds as much); zstd only, one compressing thread`,
  ).argParser((text: string) => {
    const n = Number(text);
    if (!/^\s*\d+\s*$/.test(text) || n < MIN_LONG_WINDOW_LOG || n > MAX_LONG_WINDOW_LOG) throw new InvalidArgumentError(`expected an integer in ${MIN_LONG_WINDOW_LOG}..${MAX_LONG_WINDOW_LOG}.`);
    return n;
  });
}

/** The window log a `--long` flag stands for: true = the default window, absent = 0 (off). */
export function longWindowLogOf(flag: number | true | undefined): number {
  return flag === true ? DEFAULT_LONG_WINDOW_LOG : (flag ?? 0);
}
