import * as assert from 'node:assert/strict';
import { CpioWriter, parseCpio } from '../../bench/guest/cpio';

describe('guest initramfs: newc cpio writer', () => {
  it('writes the exact newc header for a file (known answer) and pads name and data to 4 bytes', () => {
    const b = new CpioWriter().add({ type: 'file', name: 'init', data: Buffer.from('hi!'), mode: 0o755 }).finish();
    const head = b.toString('latin1', 0, 110);
    assert.equal(
      head,
      '070701' + '00000001' + '000081ed' + '00000000' + '00000000' + '00000001' + '00000000' + '00000003' + '00000000' + '00000000' + '00000000' + '00000000' + '00000005' + '00000000',
    );
    // 110 + "init\0" = 115 -> padded to 116; data 3 -> padded to 4; then the trailer header.
    assert.equal(b.toString('latin1', 110, 115), 'init\0');
    assert.equal(b[115], 0);
    assert.equal(b.toString('latin1', 116, 119), 'hi!');
    assert.equal(b.toString('latin1', 120, 126), '070701');
    assert.equal(b.length % 4, 0);
    // trailer: 110-byte header + "TRAILER!!!\0" (121) padded to 124
    assert.equal(b.indexOf('TRAILER!!!\0'), b.length - 14);
  });

  it('round-trips dirs, files, symlinks and device nodes through parseCpio', () => {
    const data = Buffer.alloc(4099, 7);
    const b = new CpioWriter()
      .add({ type: 'dir', name: 'bin' })
      .add({ type: 'file', name: 'bin/busybox', data, mode: 0o755 })
      .add({ type: 'symlink', name: 'bin/sh', target: 'busybox' })
      .add({ type: 'char', name: 'dev/console', major: 5, minor: 1 })
      .add({ type: 'file', name: 'empty', data: Buffer.alloc(0) })
      .finish();
    const m = parseCpio(b);
    assert.deepEqual(
      m.map((x) => x.name),
      ['bin', 'bin/busybox', 'bin/sh', 'dev/console', 'empty'],
    );
    assert.equal(m[0].mode, 0o040755);
    assert.equal(m[1].mode, 0o100755);
    assert.ok(m[1].data.equals(data));
    assert.equal(m[2].mode, 0o120777);
    assert.equal(m[2].data.toString(), 'busybox');
    assert.deepEqual([m[3].mode, m[3].rdevMajor, m[3].rdevMinor], [0o020600, 5, 1]);
    assert.equal(m[4].data.length, 0);
  });

  it('is deterministic and refuses bad names and use after finish', () => {
    const mk = () => new CpioWriter().add({ type: 'file', name: 'a', data: Buffer.from('x') }).finish();
    assert.ok(mk().equals(mk()));
    assert.throws(() => new CpioWriter().add({ type: 'dir', name: '/abs' }), /bad member name/);
    assert.throws(() => new CpioWriter().add({ type: 'dir', name: '' }), /bad member name/);
    const w = new CpioWriter();
    w.finish();
    assert.throws(() => w.add({ type: 'dir', name: 'x' }), /already finished/);
  });

  it('parseCpio names the offset of a damaged header', () => {
    const b = new CpioWriter().add({ type: 'file', name: 'a', data: Buffer.from('xyz') }).finish();
    const bad = Buffer.from(b);
    bad.write('070707', 0, 'latin1');
    assert.throws(() => parseCpio(bad), /bad magic at offset 0/);
    assert.throws(() => parseCpio(b.subarray(0, 50)), /truncated header at offset 0/);
    assert.throws(() => parseCpio(b.subarray(0, 120)), /runs past the end|truncated/);
  });
});
