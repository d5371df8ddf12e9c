/** `pagepress plan` as a child process: JSON report, side-by-side managers, --emit, --plot, exit codes. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { run, tmpDir } from '../cli/helpers';

describe('planner: CLI (pagepress plan)', function () {
  this.timeout(30_000);
  const tmp = tmpDir();
  const hosts = tmp.file('hosts.json');
  const trace = tmp.file('trace.json');
  before(async () => {
    // Two small hosts: the 300-request trace's peak hour saturates them, so managers differ.
    fs.writeFileSync(
      hosts,
      JSON.stringify({
        hosts: [
          { name: 'pm1', cpus: 16, memGiB: 64, storageGiB: 2000 },
          { name: 'pm2', cpus: 16, memGiB: 64, storageGiB: 2000 },
        ],
        public: { name: 'cloud.example', linkMbps: 1000, latencyMs: 20, pricePerCpuHour: 0.05 },
      }),
    );
    const gen = await run(['plan', '--generate', '300', '--seed', '5']);
    assert.equal(gen.code, 0, gen.stderr);
    fs.writeFileSync(trace, gen.stdout);
    assert.equal(JSON.parse(gen.stdout.toString()).length, 300);
  });
  after(() => tmp.cleanup());

  it('--json --manager all: one JSON report with the three managers on the same trace', async () => {
    const r = await run(['plan', '--hosts', hosts, '--requests', trace, '--manager', 'all', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout.toString());
    assert.deepEqual(
      rep.runs.map((x: { manager: string }) => x.manager),
      ['fcfs', 'rule-based-no-aging', 'rule-based'],
    );
    assert.equal(rep.requests, 300);
    assert.deepEqual(rep.estimator, { linkMbps: 1000, latencyMs: 20, codec: 'zstd', policy: 'adaptive' });
    for (const run of rep.runs) assert.equal(run.summary.unfinished, 0);
    assert.ok(rep.runs[2].summary.migrations > 0, 'the rule-based manager migrates during the burst');
  });

  it('prints decisions with reasons and a summary table; --quiet the table only', async () => {
    const r = await run(['plan', '--hosts', hosts, '--requests', trace]);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout.toString();
    assert.match(text, /^== rule-based ==\n/);
    assert.match(text, /migrate-start +r\d+ +@pm\d +for r\d+ \(priority [12]\): least-cost set/);
    assert.match(text, /p1 deadlines met +\d+\/\d+/);
    const q = await run(['plan', '--hosts', hosts, '--requests', trace, '--quiet', '--manager', 'fcfs']);
    assert.match(q.stdout.toString(), /^ +fcfs\np1 deadlines met/);
  });

  it('--emit xl|virsh prints the migration commands (dry run)', async () => {
    const xl = await run(['plan', '--hosts', hosts, '--requests', trace, '--emit', 'xl']);
    assert.equal(xl.code, 0, xl.stderr);
    const lines = xl.stdout
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('xl '));
    assert.ok(lines.length > 0);
    for (const l of lines) assert.match(l, /^xl migrate -s "pagepress xen ssh" r\d+ cloud\.example$/);
    const virsh = await run(['plan', '--hosts', hosts, '--requests', trace, '--emit', 'virsh', '--public-link-mbps', '100']);
    assert.match(virsh.stdout.toString(), /^virsh migrate --live r\d+ xen\+ssh:\/\/cloud\.example\/system$/m);
  });

  it('--plot DIR writes SVG plots', async () => {
    const dir = tmp.file('plots');
    const r = await run(['plan', '--hosts', hosts, '--requests', trace, '--manager', 'all', '--quiet', '--plot', dir]);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ['utilisation.svg', 'queue.svg']) assert.match(fs.readFileSync(`${dir}/${f}`, 'utf8'), /^<svg[\s\S]*rule-based-no-aging[\s\S]*<\/svg>\s*$/);
  });

  it('exit 1 on a bad trace, naming file, line and field', async () => {
    const bad = tmp.file('bad.csv');
    fs.writeFileSync(bad, 'id,arrival,cpus,memGiB,storageGiB,priority,deadline,runTime,workload\nx,0,1,1,1,9,10,5,idle\n');
    const r = await run(['plan', '--hosts', hosts, '--requests', bad]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.length, 0);
    assert.match(r.stderr, /^pagepress: plan: bad\.csv line 2: field "priority": expected an integer 1\.\.4 \(1 highest\), found "9" \(PP_ERR_FORMAT\)\n$/);
    const missing = await run(['plan', '--hosts', tmp.file('nope.json'), '--requests', trace]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.json: cannot read \(ENOENT\)/);
  });

  it('exit 2 on usage errors', async () => {
    for (const args of [
      ['plan', '--hosts', hosts, '--requests', trace, '--bogus'],
      ['plan', '--hosts', hosts, '--requests', trace, '--manager', 'lottery'],
      ['plan', '--hosts', hosts, '--requests', trace, '--aging-threshold', '-5'],
      ['plan', '--hosts', hosts],
      ['plan', '--generate', '10', '--hosts', hosts],
    ]) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^pagepress: /);
    }
  });
});
