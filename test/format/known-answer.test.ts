import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createDecoder, createEncoder } from '../../lib';
import { through } from '../helpers';

/** The hexdump in docs/FORMAT.md section 3, parsed back into bytes. */
function documentedStream(): Buffer {
  const doc = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'docs', 'FORMAT.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## 3. A real stream'));
  const lines = section.split('\n').filter((l) => /^[0-9a-f]{8}: /.test(l));
  return Buffer.from(lines.map((l) => l.slice(10, 57).replace(/ /g, '')).join(''), 'hex');
}

describe('known-answer stream (docs/FORMAT.md section 3)', () => {
  const input = Buffer.concat([Buffer.alloc(4096), Buffer.from('hello, pagepress')]);

  it('the encoder produces exactly the documented bytes', async () => {
    const expected = documentedStream();
    assert.equal(expected.length, 268);
    const actual = await through(input, createEncoder({ codec: 'none', threads: 1, streamId: 0n }));
    assert.equal(actual.toString('hex'), expected.toString('hex'));
  });

  it('the documented bytes decode to the input', async () => {
    assert.ok((await through(documentedStream(), createDecoder({ threads: 1 }))).equals(input));
  });
});
