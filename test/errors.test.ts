/**
 * native/status.h and lib/errors.ts name the same codes: the status enum, its code table
 * (same order, `PP_ERR_<NAME>` for each `Status::<NAME>`), and ErrorCodes, which must hold
 * every code the addon can throw. Fails on any drift between the three.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { addon } from '../lib/native';
import { ErrorCodes } from '../lib/errors';

/** The repository's native/status.h, from dist/test/. */
const STATUS_H = path.join(__dirname, '..', '..', 'native', 'status.h');

/** The enum's names and the code table's strings, as written in status.h. */
export function parseStatusHeader(text: string): { names: string[]; codes: string[] } {
  const noComments = text.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  const en = /enum\s+class\s+Status\s*:\s*\w+\s*\{([^}]*)\}/.exec(noComments);
  const table = /kCodes\[\]\s*=\s*\{([^}]*)\}/.exec(noComments);
  assert.ok(en, 'status.h: no `enum class Status : T { ... }`');
  assert.ok(table, 'status.h: no `kCodes[] = { ... }` table');
  const names = en[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const codes = [...table[1].matchAll(/"([^"]*)"/g)].map((m) => m[1]);
  return { names, codes };
}

/** Why the enum, the table and ErrorCodes disagree; empty when they agree. */
export function statusDrift(names: string[], codes: string[], errorCodes: Record<string, string>): string[] {
  const problems: string[] = [];
  if (names.length !== codes.length) problems.push(`status.h: ${names.length} Status values but ${codes.length} strings in kCodes`);
  names.forEach((name, i) => {
    const want = name === 'OK' ? 'PP_OK' : `PP_ERR_${name}`;
    if (codes[i] !== want) problems.push(`status.h: Status::${name} (index ${i}) maps to ${String(codes[i])}, expected ${want}`);
  });
  const known = new Map(Object.entries(errorCodes).map(([k, v]) => [v, k]));
  for (const code of codes) {
    if (code === 'PP_OK') continue;
    const key = known.get(code);
    if (key === undefined) problems.push(`lib/errors.ts: ErrorCodes has no ${code} (native/status.h throws it)`);
    else if (`PP_ERR_${key}` !== code) problems.push(`lib/errors.ts: ErrorCodes.${key} is ${code}, expected PP_ERR_${key}`);
  }
  return problems;
}

describe('error codes: native/status.h against lib/errors.ts', () => {
  it('every native status has its code in ErrorCodes, in the order of the enum', () => {
    const { names, codes } = parseStatusHeader(fs.readFileSync(STATUS_H, 'utf8'));
    assert.ok(names.length >= 10 && names[0] === 'OK', `parsed ${names.length} statuses: ${names.join(', ')}`);
    assert.deepEqual(statusDrift(names, codes, ErrorCodes), []);
  });

  it('every ErrorCodes value is PP_ERR_<its key>', () => {
    for (const [key, value] of Object.entries(ErrorCodes)) assert.equal(value, `PP_ERR_${key}`);
  });

  it('detects drift: a code missing from ErrorCodes, a table out of order, a status without a string', () => {
    const { names, codes } = parseStatusHeader(fs.readFileSync(STATUS_H, 'utf8'));
    const { CODEC: _dropped, ...withoutCodec } = ErrorCodes;
    assert.match(statusDrift(names, codes, withoutCodec).join('\n'), /ErrorCodes has no PP_ERR_CODEC/);
    const swapped = [...codes];
    [swapped[1], swapped[2]] = [swapped[2], swapped[1]];
    assert.match(statusDrift(names, swapped, ErrorCodes).join('\n'), /Status::TRUNCATED \(index 1\) maps to PP_ERR_TRAILING/);
    assert.match(statusDrift([...names, 'NEW'], codes, ErrorCodes).join('\n'), /Status values but/);
  });

  it('an error the addon throws carries one of the codes of the table', () => {
    const { codes } = parseStatusHeader(fs.readFileSync(STATUS_H, 'utf8'));
    const image = new Uint8Array(128).fill(0x55); // no image magic
    assert.throws(
      () => addon.imageInfo(image),
      (err: { code?: string }) => codes.includes(String(err.code)) && Object.values(ErrorCodes).includes(err.code as never),
    );
  });
});
