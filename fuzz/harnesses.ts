/**
 * Every fuzz harness. Native ones are the .cc files in fuzz/native/ (found by name, one
 * file each); JS ones are listed here, one line each.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { JsHarness } from './js/harness';
import { streamHarness } from './js/stream';
import { xenFilterHarness, xenReaderHarness } from './js/xen';
import { migrationHarness } from './js/migration';

/** JS harness factories, by name. Add one line per new harness. */
export const JS_HARNESSES: Record<string, () => JsHarness> = {
  stream: streamHarness,
  xen_reader: xenReaderHarness,
  xen_filter: xenFilterHarness,
  migration: migrationHarness,
};

/** The repository's fuzz/ folder (this file runs from dist/fuzz/). */
export const FUZZ_DIR = path.join(__dirname, '..', '..', 'fuzz');

/** Native harness names: fuzz/native/<name>.cc. */
export function nativeHarnesses(): string[] {
  return fs
    .readdirSync(path.join(FUZZ_DIR, 'native'))
    .filter((f) => f.endsWith('.cc'))
    .map((f) => f.slice(0, -3))
    .sort();
}
