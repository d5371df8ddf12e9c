/**
 * The migration protocol under a hostile path: a real sender and a real receiver (in this
 * process, over loopback TCP) with a proxy between them that mutates the sender's messages
 * ([u32 length][u8 type][body]): one message's bytes changed, cut, doubled or dropped, or
 * two whole messages swapped, or one repeated. Invariant: both ends settle within the case
 * time with a verified guest or a PP_ERR_ error; if the sender succeeds, so did the
 * receiver, with the source's memory; the source runs again after a failure unless the
 * receiver had verified the memory (the sender then says it stays paused).
 */
import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SimulatedGuest } from '../../lib/migration/guests/simulated-guest';
import { migrate } from '../../lib/migration/sender';
import { receive, ReceivedGuest } from '../../lib/migration/receiver';
import { MigrationError } from '../../lib/migration/protocol';
import { Choices, Finding, JsHarness } from './harness';
import { mutateBytes } from './mutate';

const HOST = '127.0.0.1';

type Hook = (message: Buffer, index: number) => Buffer[];

/** A proxy that cuts sender -> receiver bytes into messages and passes them through `hook`. */
async function startProxy(target: number, hook: Hook): Promise<{ port: number; close(): void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(target, HOST);
    sockets.push(client, upstream);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    upstream.pipe(client);
    let pending = Buffer.alloc(0);
    let index = 0;
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32LE(0)) {
        const n = 5 + pending.readUInt32LE(0);
        const msg = pending.subarray(0, n);
        pending = pending.subarray(n);
        for (const out of hook(msg, index++)) upstream.write(out);
      }
    });
    client.on('end', () => upstream.end());
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

/** The migration harness. */
export function migrationHarness(): JsHarness {
  return {
    name: 'migration',
    caseTimeoutMs: 40_000,
    async run(seed) {
      const c = new Choices(seed);
      const target = c.below(24);
      const op = c.below(4);
      let held: Buffer | null = null;
      let description = `message ${target}: none (fewer messages)`;
      const hook: Hook = (msg, i) => {
        if (held && i === target + 1) {
          const out = [msg, held];
          held = null;
          return out; // swapped with the next one
        }
        if (i !== target) return [msg];
        if (op === 0) {
          const m = mutateBytes(msg, c);
          description = `message ${i} (type ${msg[4]}): ${m.description}`;
          return [m.bytes];
        }
        if (op === 1) {
          description = `message ${i} (type ${msg[4]}) swapped with the next`;
          held = msg;
          return [];
        }
        if (op === 2) {
          description = `message ${i} (type ${msg[4]}) repeated`;
          return [msg, msg];
        }
        description = `message ${i} (type ${msg[4]}) dropped`;
        return [];
      };
      let listening!: (port: number) => void;
      const port = new Promise<number>((r) => (listening = r));
      const rx = receive({ host: HOST, port: 0 }, { threads: 1, idleTimeoutMs: 1500, onListening: (a) => listening(a.port) });
      rx.catch(() => undefined);
      const proxy = await startProxy(await port, hook);
      const guest = await SimulatedGuest.create({ pages: 1024, workload: 'hotset', dirtyRate: 20_000, seed: seed % 97 });
      try {
        const settle = <T>(p: Promise<T>) =>
          Promise.race([
            p.then(
              (v) => ({ ok: true as const, v, err: null }),
              (err: MigrationError) => ({ ok: false as const, v: null, err }),
            ),
            sleep(20_000).then(() => null),
          ]);
        const tx = migrate(guest, { host: HOST, port: proxy.port, threads: 1, idleTimeoutMs: 1500, policy: 'xen' });
        tx.catch(() => undefined);
        const [r, s] = await Promise.all([settle<ReceivedGuest>(rx), settle(tx)]);
        if (!r) throw new Finding(`${description}: the receiver did not settle in 20 s`);
        if (!s) throw new Finding(`${description}: the sender did not settle in 20 s`);
        for (const [end, e] of [
          ['receiver', r.err],
          ['sender', s.err],
        ] as const) {
          if (e && !String(e.code).startsWith('PP_ERR_')) throw new Finding(`${description}: the ${end} failed without a PP_ERR_ code: ${(e as Error).message}`);
        }
        if (s.ok && !r.ok) throw new Finding(`${description}: the sender succeeded, the receiver failed: ${r.err?.message}`);
        if (s.ok && r.ok) {
          const source = Buffer.alloc(1024 * 4096);
          guest.readRange(0, 1024, source); // paused after a hand-over: no writes any more
          if (!r.v.memory.equals(source)) throw new Finding(`${description}: the received memory differs from the source's`);
        }
        if (s.err) {
          const handedOver = /stays paused/.test(s.err.message);
          if (s.err.sourceState !== (handedOver ? 'paused' : 'running')) throw new Finding(`${description}: source state ${s.err.sourceState} after: ${s.err.message}`);
        }
        return s.ok ? 'migrated' : `sender ${s.err.code}`;
      } finally {
        proxy.close();
        await guest.close();
      }
    },
  };
}
