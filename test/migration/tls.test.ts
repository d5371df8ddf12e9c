/**
 * Migrations over TLS (lib/migration/tls.ts) with the real bin as child processes.
 * Throwaway certificates are made at test time with the openssl command line: a
 * self-signed server certificate, and a small CA that signs a server and a client
 * certificate (plus a second, unrelated CA). Server authentication, mutual
 * authentication, and the refusals: no client certificate, an untrusted CA either way,
 * a name mismatch, TLS against plain TCP; each fails with one clear line.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { run, RunResult, tmpDir } from '../cli/helpers';
import { ChildReceiver, HOST, startReceiver } from './receiver-process';
import { cleanOpensslMessage, explainTls } from '../../lib/migration/tls';
import type { MigrationReport, ReceiverReport } from '../../lib/migration/metrics';

/** The `tls` member the CLI's --json reports add. */
type WithTls<T> = T & { tls: { protocol: string; clientCert: string | boolean | null } };

const GUEST = 'sim:8M,workload=hotset';

/** Receivers here time out quickly and use one thread. */
const startTlsReceiver = (args: string[]): ChildReceiver => startReceiver(['--timeout', '10', '-T', '1', ...args]);

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** stderr lines other than "listening on". */
function messages(r: RunResult): string[] {
  return r.stderr.split('\n').filter((l) => l && !/listening on/.test(l));
}

describe('migration: TLS (migrate receive / send with certificates)', function () {
  this.timeout(30_000);
  const t = tmpDir();
  const f = t.file;
  const receivers: ChildReceiver[] = [];

  before(function () {
    if (!hasOpenssl()) {
      // CI installs openssl (.ci/run); elsewhere its absence skips, and says so.
      if (process.env.CI) throw new Error('openssl is required for the TLS tests (apt-get install openssl)');
      this.skip();
    }
    const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: t.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    // A self-signed server certificate (server authentication only).
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', 'self.key', '-out', 'self.pem');
    // A CA, and an unrelated one.
    for (const ca of ['ca', 'other-ca']) {
      ssl(
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=pagepress test ${ca}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-keyout',
        `${ca}.key`,
        '-out',
        `${ca}.pem`,
      );
    }
    // Server and client certificates signed by the CA (the client one also by the other CA).
    const sign = (name: string, ca: string, cn: string, ext: string): void => {
      fs.writeFileSync(f(`${name}.ext`), `${ext}\n`);
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
      ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
    };
    sign('server', 'ca', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth');
    sign('client', 'ca', 'pagepress-sender', 'extendedKeyUsage=clientAuth');
    sign('rogue-client', 'other-ca', 'rogue-sender', 'extendedKeyUsage=clientAuth');
  });
  afterEach(() => {
    for (const r of receivers.splice(0)) r.kill();
  });
  after(() => t.cleanup());

  const serverTls = (): string[] => ['--tls-cert', f('server.pem'), '--tls-key', f('server.key')];
  const mutualTls = (ca = 'ca'): string[] => [...serverTls(), '--tls-ca', f(`${ca}.pem`), '--require-client-cert'];
  const clientCert = (name = 'client'): string[] => ['--tls-cert', f(`${name}.pem`), '--tls-key', f(`${name}.key`)];

  /** Starts a receiver with `rxArgs`, runs a sender with `txArgs`, returns both results. */
  async function migrateOver(rxArgs: string[], txArgs: string[]): Promise<{ rx: RunResult; tx: RunResult }> {
    const r = startTlsReceiver(rxArgs);
    receivers.push(r);
    const port = await r.port;
    const tx = await run(['migrate', 'send', '--guest', GUEST, '--to', `${HOST}:${port}`, '-T', '1', '--timeout', '10', ...txArgs]);
    const rx = await r.done;
    return { rx, tx };
  }

  function bothOk(rx: RunResult, tx: RunResult): { s: WithTls<MigrationReport>; r: WithTls<ReceiverReport> } {
    assert.equal(tx.code, 0, tx.stderr);
    assert.equal(rx.code, 0, rx.stderr);
    const s = JSON.parse(tx.stdout.toString()) as WithTls<MigrationReport>;
    const r = JSON.parse(rx.stdout.toString()) as WithTls<ReceiverReport>;
    assert.equal(r.pagesReceived, s.pagesSent);
    assert.equal(r.bytes.received, s.bytes.sent);
    assert.equal(r.bytes.sent, s.bytes.received);
    assert.ok(s.downtimeMs > 0);
    assert.match(String(s.tls.protocol), /^TLSv1\.[23]$/);
    assert.equal(r.tls.protocol, s.tls.protocol);
    return { s, r };
  }

  /** Both ends failed with exit 1 and one line each. */
  function bothFail(rx: RunResult, tx: RunResult, rxMessage: RegExp, txMessage: RegExp): void {
    assert.equal(tx.code, 1, tx.stderr);
    assert.equal(rx.code, 1, rx.stderr);
    const tl = messages(tx);
    const rl = messages(rx);
    assert.equal(tl.length, 1, tx.stderr);
    assert.equal(rl.length, 1, rx.stderr);
    assert.match(tl[0], txMessage);
    assert.match(rl[0], rxMessage);
    assert.match(tl[0], /the source guest is running$/);
    assert.match(rl[0], /the partial guest was discarded$/);
    // OpenSSL's raw error strings (file names, line numbers) are cut down to the reason.
    for (const l of [tl[0], rl[0]]) assert.doesNotMatch(l, /deps\/openssl|\.c:\d+/, l);
  }

  it('server authentication: a self-signed receiver certificate trusted with --tls-ca', async () => {
    const { rx, tx } = await migrateOver(['--tls-cert', f('self.pem'), '--tls-key', f('self.key'), '--json'], ['--tls-ca', f('self.pem'), '--json']);
    const { r } = bothOk(rx, tx);
    assert.equal(r.tls.clientCert, null);
    assert.match(messages(rx)[0], /memory verified, TLSv1\.\d$/);
    assert.match(messages(tx)[0], /migrated 8\.0 MiB .* \(TLSv1\.\d\)$/);
  });

  it('mutual authentication: CA-signed server and client certificates, --require-client-cert', async () => {
    const { rx, tx } = await migrateOver([...mutualTls(), '--json'], ['--tls-ca', f('ca.pem'), ...clientCert(), '--json']);
    const { s, r } = bothOk(rx, tx);
    assert.equal(r.tls.clientCert, 'pagepress-sender');
    assert.equal(s.tls.clientCert, true);
    assert.match(rx.stderr, /listening on 127\.0\.0\.1:\d+ \(TLS, client certificates required\)/);
  });

  it('--tls-servername: the certificate is checked for that name', async () => {
    const { rx, tx } = await migrateOver([...serverTls(), '--json'], ['--tls-ca', f('ca.pem'), '--tls-servername', 'localhost', '--json']);
    bothOk(rx, tx);
  });

  it('a sender without a client certificate against --require-client-cert: both fail, both say so', async () => {
    const { rx, tx } = await migrateOver(mutualTls(), ['--tls-ca', f('ca.pem')]);
    bothFail(
      rx,
      tx,
      /^pagepress: migrate receive: TLS: refused the sender from 127\.0\.0\.1:\d+: the sender presented no client certificate/,
      /^pagepress: migrate send: receiver refused the migration: TLS: this receiver requires a client certificate: give --tls-cert and --tls-key/,
    );
  });

  it('a client certificate from another CA: both fail, the receiver names the certificate', async () => {
    const { rx, tx } = await migrateOver(mutualTls(), ['--tls-ca', f('ca.pem'), ...clientCert('rogue-client')]);
    bothFail(
      rx,
      tx,
      /migrate receive: TLS: refused the sender .*client certificate \(CN=rogue-sender, issued by CN=pagepress test other-ca\) is not signed by --tls-ca/,
      /migrate send: receiver refused the migration: TLS: this receiver does not trust our client certificate/,
    );
  });

  it('a sender trusting the wrong CA: both fail, the sender says the receiver is not trusted', async () => {
    const { rx, tx } = await migrateOver(serverTls(), ['--tls-ca', f('other-ca.pem')]);
    bothFail(
      rx,
      tx,
      /^pagepress: migrate receive: TLS handshake( from \S+)? failed: the sender closed the connection during the TLS handshake/,
      /^pagepress: migrate send: TLS handshake with 127\.0\.0\.1:\d+ failed: the receiver's certificate is not signed by a trusted CA \(check --tls-ca\)/,
    );
  });

  it('a name the certificate does not carry: the sender fails with a hostname mismatch', async () => {
    const { rx, tx } = await migrateOver(serverTls(), ['--tls-ca', f('ca.pem'), '--tls-servername', 'other.example']);
    bothFail(rx, tx, /TLS handshake/, /the receiver's certificate is not valid for the name connected to .*other\.example/);
  });

  it('TLS against plain TCP, either way round, fails on both sides with a hint', async () => {
    const a = await migrateOver([], ['--tls-ca', f('ca.pem')]);
    bothFail(a.rx, a.tx, /does the sender use TLS\? this receiver runs without --tls-cert/, /the receiver does not speak TLS/);
    const b = await migrateOver(serverTls(), []);
    bothFail(b.rx, b.tx, /the sender does not speak TLS/, /migrate send: .*during handshake.*does the receiver use TLS\? then give --tls-ca or --tls/);
  });

  it('usage: --require-client-cert needs --tls-ca; --tls-ca on a receiver needs --require-client-cert; missing files', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['receive', '--listen', `${HOST}:0`, ...serverTls(), '--require-client-cert'], /--require-client-cert.*--tls-ca/],
      [['receive', '--listen', `${HOST}:0`, ...serverTls(), '--tls-ca', f('ca.pem')], /--tls-ca.*--require-client-cert/],
      [['receive', '--listen', `${HOST}:0`, '--tls-cert', f('server.pem')], /--tls-key.*required/],
      [['receive', '--listen', `${HOST}:0`, '--tls-cert', f('nope.pem'), '--tls-key', f('server.key')], /--tls-cert <FILE>.*no such file/],
    ];
    for (const [args, message] of cases) {
      const r = await run(['migrate', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  it('explainTls and cleanOpensslMessage map OpenSSL reasons to one line', () => {
    const raw = '800CE2B0A37F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 116';
    assert.equal(cleanOpensslMessage(raw), 'tlsv13 alert certificate required (SSL alert number 116)');
    assert.match(explainTls(raw, 'sender')!, /requires a client certificate/);
    assert.match(explainTls('ERR_TLS_CERT_ALTNAME_INVALID', 'sender')!, /--tls-servername/);
    assert.match(explainTls('unable to verify the first certificate', 'sender')!, /--tls-ca/);
    assert.equal(explainTls('checksum mismatch', 'sender'), null);
  });
});
