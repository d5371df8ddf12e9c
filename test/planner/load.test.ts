/** hosts.json and trace loaders: good files load; a bad field names the file, line or index, and field. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadHosts, loadRequests, parseHosts, parseRequestsCsv, parseRequestsJson, toCsv } from '../../lib/planner/load';
import { generateTrace } from '../../lib/planner/trace';

const CSV = `id,arrival,cpus,memGiB,storageGiB,priority,deadline,runTime,workload,dirtyRate
a,0,2,4,20,1,600,300,hotset,20000
b,10,1,0.5,10,4,3600,900,idle,
`;

function throwsField(fn: () => unknown, ...parts: RegExp[]): void {
  assert.throws(fn, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'PP_ERR_FORMAT');
    for (const p of parts) assert.match(err.message, p);
    return true;
  });
}

describe('planner: loaders', () => {
  it('reads a CSV trace (optional dirtyRate empty) and a JSON one alike', () => {
    const csv = parseRequestsCsv(CSV, 't.csv');
    assert.deepEqual(csv[0], { id: 'a', arrival: 0, cpus: 2, memGiB: 4, storageGiB: 20, priority: 1, deadline: 600, runTime: 300, workload: 'hotset', dirtyRate: 20000 });
    assert.equal(csv[1].dirtyRate, undefined);
    assert.deepEqual(parseRequestsJson(JSON.stringify(csv), 't.json'), csv);
  });

  it('round-trips the synthetic trace through CSV and JSON files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pagepress-plan-'));
    try {
      const trace = generateTrace({ count: 200, seed: 3 });
      fs.writeFileSync(path.join(dir, 't.csv'), toCsv(trace));
      fs.writeFileSync(path.join(dir, 't.json'), JSON.stringify(trace));
      assert.deepEqual(loadRequests(path.join(dir, 't.csv')), trace);
      assert.deepEqual(loadRequests(path.join(dir, 't.json')), trace);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  const badCsv: Array<[string, string, RegExp[]]> = [
    ['priority out of range', 'c,5,1,1,1,7,10,5,idle,', [/t\.csv line 4/, /"priority"/, /"7"/]],
    ['negative arrival', 'c,-5,1,1,1,2,10,5,idle,', [/line 4/, /"arrival"/]],
    ['zero cpus', 'c,5,0,1,1,2,10,5,idle,', [/line 4/, /"cpus"/]],
    ['text run time', 'c,5,1,1,1,2,10,soon,idle,', [/line 4/, /"runTime"/, /"soon"/]],
    ['unknown workload', 'c,5,1,1,1,2,10,5,mining,', [/line 4/, /"workload"/, /hotset/]],
    ['missing cells', 'c,5,1', [/line 4/, /expected 10 fields, found 3/]],
    ['duplicate id', 'a,5,1,1,1,2,10,5,idle,', [/line 4/, /"id"/, /line 2/]],
    ['a quote left open', '"c,5,1,1,1,2,10,5,idle,', [/line 4/, /not valid CSV/]],
    ['a quoted id with a comma (valid), bad priority', '"c,d",5,1,1,1,0,10,5,idle,', [/line 4/, /"priority"/]],
  ];
  for (const [what, row, parts] of badCsv) it(`CSV: ${what} -> PP_ERR_FORMAT naming line and field`, () => throwsField(() => parseRequestsCsv(CSV + row + '\n', 't.csv'), ...parts));

  it('CSV: a header without a needed column, or with an unknown one', () => {
    throwsField(() => parseRequestsCsv('id,arrival\n', 't.csv'), /line 1/, /"cpus"/);
    throwsField(() => parseRequestsCsv(CSV.replace('dirtyRate', 'dirty'), 't.csv'), /line 1/, /unknown column "dirty"/);
  });

  it('JSON: names the index and field; rejects non-arrays and bad JSON', () => {
    const good = { id: 'x', arrival: 0, cpus: 1, memGiB: 1, storageGiB: 1, priority: 2, deadline: 10, runTime: 5, workload: 'idle' };
    throwsField(() => parseRequestsJson(JSON.stringify([good, { ...good, id: 'y', deadline: 0 }]), 't.json'), /t\.json request \[1\]/, /"deadline"/);
    throwsField(() => parseRequestsJson(JSON.stringify([{ ...good, memGiB: undefined }]), 't.json'), /\[0\]/, /"memGiB"/, /found nothing/);
    throwsField(() => parseRequestsJson(JSON.stringify([{ ...good, priority: 1.5 }]), 't.json'), /"priority"/);
    throwsField(() => parseRequestsJson('{"id": 1}', 't.json'), /JSON array/);
    throwsField(() => parseRequestsJson('[{', 't.json'), /not valid JSON/);
  });

  it('hosts.json: validates hosts and the public cloud', () => {
    const good = { hosts: [{ name: 'pm1', cpus: 8, memGiB: 32, storageGiB: 500 }], public: { name: 'aws', linkMbps: 100, latencyMs: 30, pricePerCpuHour: 0.04 } };
    assert.deepEqual(parseHosts(JSON.stringify(good), 'h.json'), good);
    throwsField(() => parseHosts(JSON.stringify({ ...good, hosts: [{ ...good.hosts[0], cpus: -1 }] }), 'h.json'), /h\.json hosts\[0\]/, /"cpus"/);
    throwsField(() => parseHosts(JSON.stringify({ ...good, public: { ...good.public, linkMbps: 'fast' } }), 'h.json'), /h\.json public/, /"linkMbps"/);
    throwsField(() => parseHosts(JSON.stringify({ hosts: [], public: good.public }), 'h.json'), /"hosts"/);
    throwsField(() => parseHosts(JSON.stringify({ ...good, hosts: [good.hosts[0], good.hosts[0]] }), 'h.json'), /hosts\[1\]/, /used twice/);
    throwsField(() => loadHosts('/nonexistent/hosts.json'), /hosts\.json: cannot read \(ENOENT\)/);
  });
});
