/**
 * The Xen reader (lib/xen/reader.ts) and the Xen filter (XenEncoder) under mutated Xen
 * streams (bytes, and whole records dropped, repeated, swapped or given a boundary length).
 * Reader invariant: what it hands on (verbatim bytes and page contents, in order) is
 * exactly the input it consumed, all of it on success; a failure is a PP_ERR_ error with
 * an offset inside the input. Filter invariant: a stream it accepts decodes back to exactly
 * its input; a failure is a PP_ERR_ error, and what it wrote before decodes to a prefix.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecoder } from '../../lib';
import { XenReader } from '../../lib/xen/reader';
import { XenEncoder } from '../../lib/xen/filter';
import { throughSettled } from '../../test/helpers';
import { Choices, expectExactOrPrefix, expectTyped, Finding, JsHarness } from './harness';
import { mutateXen } from './mutate';
import { xenOriginal } from './sources';

function mutatedXen(seed: number): { c: Choices; bytes: Buffer; description: string } {
  const c = new Choices(seed);
  const layerPages = c.int(4, 12); // an HVM stream needs 4 pfns (its special pages)
  let m = mutateXen(xenOriginal(seed, layerPages), c);
  if (c.chance(0.3)) {
    const again = mutateXen(m.bytes, c);
    m = { bytes: again.bytes, description: `${m.description}; ${again.description}` };
  }
  return { c, ...m };
}

/** Pieces of `b` of random sizes (the reader must not depend on how input is cut). */
function pieces(b: Buffer, c: Choices): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < b.length;) {
    const n = c.chance(0.3) ? c.int(1, 16) : c.int(1, 64 * 1024);
    out.push(b.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** The Xen reader harness. */
export function xenReaderHarness(): JsHarness {
  return {
    name: 'xen_reader',
    caseTimeoutMs: 10_000,
    async run(seed) {
      const { c, bytes, description } = mutatedXen(seed);
      const handed: Buffer[] = [];
      let pageBytes = 0;
      let wantPageBytes = 0;
      const reader = new XenReader(
        {
          verbatim: (b) => void handed.push(Buffer.from(b)),
          pageRecord: (pfns) => {
            if (pageBytes !== wantPageBytes) throw new Finding(`${description}: a page record began after ${pageBytes} of ${wantPageBytes} page bytes`, bytes);
            pageBytes = wantPageBytes = 0;
            wantPageBytes = pfns.length * 4096;
          },
          pageBytes: (b) => {
            pageBytes += b.length;
            if (pageBytes > wantPageBytes) throw new Finding(`${description}: ${pageBytes} page bytes for a record of ${wantPageBytes}`, bytes);
            handed.push(Buffer.from(b));
          },
          flushPoint: () => undefined,
        },
        { format: 'auto', legacy: c.pick(['refuse', 'pass'] as const) },
      );
      let err: unknown = null;
      try {
        for (const p of pieces(bytes, c)) reader.push(p);
        reader.end();
      } catch (e) {
        if (e instanceof Finding) throw e;
        err = e;
      }
      const out = Buffer.concat(handed);
      if (err) {
        expectTyped(err, `${description}: reader`, bytes);
        const off = (err as { offset?: number }).offset;
        if (typeof off !== 'number' || off < 0 || off > bytes.length) throw new Finding(`${description}: reader error offset ${off} outside 0..${bytes.length}: ${(err as Error).message}`, bytes);
      }
      if (!bytes.subarray(0, out.length).equals(out) || (!err && out.length !== bytes.length)) {
        throw new Finding(`${description}: the reader handed on ${out.length} bytes that are not ${err ? 'a prefix of' : ''} its ${bytes.length}-byte input`, bytes);
      }
      return err ? String((err as { code: string }).code) : 'accepted';
    },
  };
}

/** The Xen filter harness: XenEncoder, then the decoder on what it wrote. */
export function xenFilterHarness(): JsHarness {
  return {
    name: 'xen_filter',
    caseTimeoutMs: 20_000,
    async run(seed) {
      const { c, bytes, description } = mutatedXen(seed);
      const threads = c.pick([1, 2]);
      const encoder = new XenEncoder({ threads, batchPages: c.pick([1, 3, 1024]), cacheSlots: c.pick([0, 64]), codec: c.pick(['zstd', 'lz4', 'none'] as const) });
      const wire: Buffer[] = [];
      let err: unknown = null;
      try {
        await pipeline(Readable.from(pieces(bytes, c)), encoder, async (src: AsyncIterable<Buffer>) => {
          for await (const b of src) wire.push(b);
        });
      } catch (e) {
        err = e;
      }
      const what = `${description}, XenEncoder -T ${threads}`;
      if (err) expectTyped(err, what, bytes);
      const { out, err: derr } = await throughSettled(Buffer.concat(wire), createDecoder({ threads: 1 }));
      if (!err && derr) throw new Finding(`${what}: the filter accepted the stream, its output does not decode: ${derr.message}`, bytes);
      // Accepted: exactly the input back. Refused: what went out decodes to a prefix of it.
      expectExactOrPrefix(bytes, out, err ? (derr ?? Object.assign(new Error('truncated'), { code: 'PP_ERR_TRUNCATED' })) : null, what, bytes);
      return err ? String((err as { code: string }).code) : 'exact';
    },
  };
}
