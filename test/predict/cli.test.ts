/** `pagepress predict` as a child process: text and JSON, a trace-learned model, exit codes. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { run, tmpDir } from '../cli/helpers';

describe('predict: CLI (pagepress predict)', function () {
  this.timeout(30_000);
  const tmp = tmpDir();
  after(() => tmp.cleanup());

  it('prints the iterations, total time, downtime, bytes and cost of a workload-described guest', async () => {
    const r = await run(['predict', '--memory', '1G', '--workload', 'hotset', '--link', '100M', '--latency', '1', '--policy', 'xen']);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.toString();
    assert.match(text, /^guest 1024 MiB, AVG/);
    assert.match(text, /^ +0  +262144 /m);
    assert.match(text, /^total time +\d+\.\d\d s$/m);
    assert.match(text, /^downtime +\d+\.\d ms$/m);
    assert.match(text, /^cost +\d+\.\d \(downtime/m);
  });

  it('--json: the prediction follows the link (a 10x faster link, a shorter migration)', async () => {
    const slow = JSON.parse((await run(['predict', '--memory', '512M', '--link', '100M', '--json'])).stdout.toString());
    const fast = JSON.parse((await run(['predict', '--memory', '512M', '--link', '1G', '--json'])).stdout.toString());
    assert.equal(slow.pageCount, 131072);
    assert.equal(slow.prediction.iterations[0].pages, 131072);
    assert.ok(fast.prediction.totalMs < slow.prediction.totalMs / 2, `${fast.prediction.totalMs} vs ${slow.prediction.totalMs}`);
    assert.ok(slow.cost.cost > fast.cost.cost);
  });

  it('learns HIST (default) or AVG from a trace: a rewritten hot set gives fewer re-sent pages under HIST', async () => {
    const trace = tmp.file('hot.trace');
    const lines = [JSON.stringify({ format: 'pagepress-dirty-trace', version: 1, pageSize: 4096, pageCount: 65536, durationMs: 20000, intervalMs: 100 })];
    for (let k = 1; k <= 200; k++) lines.push(JSON.stringify({ t: k * 100, pfns: Array.from({ length: 500 }, (_, i) => i) }));
    fs.writeFileSync(trace, lines.join('\n') + '\n');
    const hist = JSON.parse((await run(['predict', '--trace', trace, '--link', '100M', '--json'])).stdout.toString());
    const avg = JSON.parse((await run(['predict', '--trace', trace, '--model', 'avg', '--link', '100M', '--json'])).stdout.toString());
    assert.equal(hist.dirty.model, 'hist');
    assert.equal(hist.prediction.iterations[1].pages, 500, 'the hot set, once');
    assert.ok(avg.prediction.iterations[1].pages > 10 * 500, 'AVG keeps counting rewrites');
  });

  it('exit 2 on a usage error, 1 on a bad trace or profile, naming the problem', async () => {
    const noSize = await run(['predict']);
    assert.equal(noSize.code, 2);
    assert.match(noSize.stderr.toString(), /--memory.*--trace/);
    const badRate = await run(['predict', '--memory', '1G', '--link', 'fast']);
    assert.equal(badRate.code, 2);
    assert.match(badRate.stderr.toString(), /--link/);
    const bad = tmp.file('bad.trace');
    fs.writeFileSync(bad, '{"format":"nope"}\n');
    const r = await run(['predict', '--trace', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr.toString(), /bad\.trace/);
    const prof = tmp.file('p.json');
    fs.writeFileSync(prof, JSON.stringify({ codec: 'zstd', firstBytesPerPage: 1000 }));
    const p = await run(['predict', '--memory', '1G', '--profile', prof]);
    assert.equal(p.code, 1);
    assert.match(p.stderr.toString(), /p\.json: field "resentHitBytesPerPage"/);
  });
});
