import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { QmpClient, QmpCommandError, QmpFramer, qmpCommand } from '../../bench/guest/qmp';

describe('guest QMP client', () => {
  it('framer: splits CRLF/LF-delimited JSON split anywhere, refuses non-objects and overlong lines', () => {
    const f = new QmpFramer(64);
    assert.deepEqual(f.push('{"a":1}\r\n{"b"'), [{ a: 1 }]);
    assert.deepEqual(f.push(':2}'), []);
    assert.deepEqual(f.push('\n\r\n{"c":3}\n'), [{ b: 2 }, { c: 3 }]);
    assert.throws(() => new QmpFramer().push('[1]\n'), /not a JSON object/);
    assert.throws(() => new QmpFramer().push('{oops\n'), /not JSON/);
    assert.throws(() => new QmpFramer(16).push('{"x":"' + 'y'.repeat(40)), /longer than 16/);
    assert.equal(qmpCommand('stop', undefined, 3), '{"execute":"stop","id":3}\n');
    assert.equal(qmpCommand('pmemsave', { val: 0 }, 4), '{"execute":"pmemsave","arguments":{"val":0},"id":4}\n');
  });

  it('negotiates, matches replies by id, reports errors and timestamped events (real unix socket)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-qmp-test-'));
    const sock = path.join(dir, 'qmp.sock');
    const seen: Array<Record<string, unknown>> = [];
    const server = net.createServer((c) => {
      c.write('{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "x"}, "capabilities": []}}\r\n');
      const f = new QmpFramer();
      c.on('data', (d) => {
        for (const m of f.push(d)) {
          seen.push(m);
          const id = m.id;
          if (m.execute === 'qmp_capabilities') c.write(`{"return": {}, "id": ${id}}\r\n`);
          else if (m.execute === 'stop') {
            // event first, reply split across two writes
            c.write('{"timestamp": {"seconds": 1700000000, "microseconds": 250000}, "event": "STOP"}\r\n{"return"');
            setTimeout(() => c.write(`: {}, "id": ${id}}\r\n`), 10);
          } else if (m.execute === 'nope') c.write(`{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}, "id": ${id}}\r\n`);
          // 'hang' gets no reply
        }
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const q = await QmpClient.connect(sock, { timeoutMs: 2000 });
      assert.deepEqual(q.version, { micro: 22, minor: 2, major: 7 });
      assert.deepEqual(await q.execute('stop'), {});
      const ev = await q.waitEvent('STOP', 1000, 0);
      assert.equal(ev.time, 1700000000.25);
      await assert.rejects(q.execute('nope'), (e: unknown) => e instanceof QmpCommandError && e.errorClass === 'CommandNotFound' && /nope failed/.test(e.message));
      await assert.rejects(q.execute('hang', undefined, 100), /hang: no reply within 100 ms/);
      await assert.rejects(q.waitEvent('RESUME', 100), /no RESUME event within 100 ms/);
      assert.deepEqual(
        seen.map((m) => m.execute),
        ['qmp_capabilities', 'stop', 'nope', 'hang'],
      );
      q.close();
      await assert.rejects(q.execute('stop'), /qmp: stop: connection closed/);
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('connect fails with a clear error when nothing listens', async () => {
    const missing = path.join(os.tmpdir(), `pp-qmp-missing-${process.pid}.sock`);
    await assert.rejects(QmpClient.connect(missing, { timeoutMs: 200 }), /qmp: cannot connect to .*pp-qmp-missing/);
  });
});
