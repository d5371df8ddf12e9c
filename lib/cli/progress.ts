/**
 * Progress bar on stderr (cli-progress), shown only when --progress is given, --quiet is
 * not, and stderr is a terminal; otherwise every method is a no-op.
 */
import * as tty from 'node:tty';
import type { SingleBar as SingleBarType } from 'cli-progress';

/** Formats a byte count as B, KiB, MiB or GiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** A progress display fed with the input position. */
export interface Progress {
  update(inputBytes: number, outputBytes: number): void;
  stop(): void;
}

const NONE: Progress = { update() {}, stop() {} };

/**
 * @param enabled --progress given and not --quiet
 * @param label   'compress' or 'decompress'
 * @param total   input size in bytes when known (regular file), else undefined
 */
export function createProgress(enabled: boolean, label: string, total: number | undefined): Progress {
  if (!enabled || !tty.isatty(2)) return NONE;
  const started = Date.now();
  const known = total !== undefined && total > 0;
  // Loaded only when a bar is shown: it is 20 modules, a measurable part of a short run's start-up.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: cli-progress loads only with --progress
  const { SingleBar } = require('cli-progress') as { SingleBar: typeof SingleBarType };
  const bar = new SingleBar({
    stream: process.stderr,
    format: known ? `${label} [{bar}] {percentage}% | {done} of {total_h} -> {out} | {speed}` : `${label} {done} -> {out} | {speed}`,
    hideCursor: true,
    clearOnComplete: true,
    barsize: 30,
    fps: 5,
  });
  const payload = (input: number, output: number) => {
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    return { done: formatBytes(input), out: formatBytes(output), total_h: formatBytes(total ?? 0), speed: `${(input / 1e6 / seconds).toFixed(1)} MB/s` };
  };
  bar.start(known ? total : 1, 0, payload(0, 0));
  return {
    update(input, output) {
      bar.update(known ? Math.min(input, total) : 0, payload(input, output));
    },
    stop() {
      bar.stop();
    },
  };
}
