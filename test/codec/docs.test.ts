/** docs/FORMAT.md's codec table (section "Codecs") lists exactly the registry's ids and names. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CODECS } from '../../lib/codec/registry';

const FORMAT_MD = path.join(__dirname, '..', '..', '..', 'docs', 'FORMAT.md');

/** The `| id | name | ... |` rows of the table under the first heading named "Codecs". */
export function codecTableRows(markdown: string): { id: number; name: string }[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#+\s+(\d+(\.\d+)*\s+)?Codecs\s*$/.test(l));
  assert.ok(start >= 0, 'FORMAT.md: no "Codecs" heading');
  const rows: { id: number; name: string }[] = [];
  for (let i = start + 1; i < lines.length && !/^#/.test(lines[i]); i++) {
    const m = /^\|\s*(\d+)\s*\|\s*`?([a-z0-9]+)`?\s*\|/.exec(lines[i]);
    if (m) rows.push({ id: Number(m[1]), name: m[2] });
  }
  return rows;
}

describe('docs/FORMAT.md codec table', () => {
  it('lists exactly the registered codecs, id and name', () => {
    const rows = codecTableRows(fs.readFileSync(FORMAT_MD, 'utf8'));
    const byId = (a: { id: number }, b: { id: number }) => a.id - b.id;
    assert.deepEqual(rows.sort(byId), CODECS.map((c) => ({ id: c.id, name: c.name })).sort(byId));
  });
});
