/**
 * Criterion D: event-loop delay of the main thread (perf_hooks.monitorEventLoopDelay,
 * resolution 1 ms) while the stream encoder (createEncoder, threads = cores, default codec)
 * runs at full speed: a file on tmpfs read with fs.createReadStream, piped through the
 * encoder into a sink that only counts bytes. A 1 ms interval timer's lateness is what
 * a server on the same thread would see as added latency.
 *
 *   node dist/bench/loop-delay.bench.js [--quick] [--corpus F] [--zero-heavy F] [--runs N]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createEncoder } from '../lib';
import { BenchOptions, benchMain, Criterion, criterion, fmt, inputs, MB, Table, scratchDir } from './common';

interface LoopResult {
  input: string;
  runs: number;
  bytes: number;
  seconds: number;
  MBps: number;
  ratio: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  elu: number;
  samples: number;
}

async function once(file: string, threads: number): Promise<{ bytes: number; out: number; seconds: number }> {
  let out = 0;
  const sink = new Writable({
    highWaterMark: 4 * 1024 * 1024,
    write(chunk: Buffer, _e, cb) {
      out += chunk.length;
      cb();
    },
  });
  const t0 = performance.now();
  await pipeline(fs.createReadStream(file, { highWaterMark: 1024 * 1024 }), createEncoder({ threads }), sink);
  return { bytes: fs.statSync(file).size, out, seconds: (performance.now() - t0) / 1000 };
}

export async function run(o: BenchOptions): Promise<{ tables: Table[]; criteria: Criterion[]; notes: string[]; data: unknown }> {
  const threads = os.availableParallelism();
  const runs = o.runs ?? (o.quick ? 1 : 3);
  const dir = scratchDir('loop');
  const results: LoopResult[] = [];
  try {
    for (const inp of inputs(o)) {
      const copy = path.join(dir, 'input.bin');
      fs.copyFileSync(inp.file, copy);
      await once(copy, threads); // warm-up: workers, JIT, page cache
      const h = monitorEventLoopDelay({ resolution: 1 });
      const elu0 = performance.eventLoopUtilization();
      let bytes = 0;
      let out = 0;
      let seconds = 0;
      h.enable();
      for (let i = 0; i < runs; i++) {
        const r = await once(copy, threads);
        bytes += r.bytes;
        out += r.out;
        seconds += r.seconds;
      }
      h.disable();
      const elu = performance.eventLoopUtilization(elu0).utilization;
      fs.rmSync(copy, { force: true });
      const ms = (ns: number): number => ns / 1e6;
      results.push({
        input: inp.name,
        runs,
        bytes,
        seconds,
        MBps: bytes / MB / seconds,
        ratio: bytes / out,
        p50: ms(h.percentile(50)),
        p90: ms(h.percentile(90)),
        p99: ms(h.percentile(99)),
        max: ms(h.max),
        mean: ms(h.mean),
        elu,
        samples: h.count,
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const table: Table = {
    title: `Event-loop delay while createEncoder (threads ${threads}, zstd 1) streams a tmpfs file at full speed (resolution 1 ms)`,
    headers: ['input', 'runs', 'MB/s', 'ratio', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'mean ms', 'main thread ELU %', 'samples'],
    rows: results.map((r) => [r.input, r.runs, fmt(r.MBps, 0), fmt(r.ratio, 3), fmt(r.p50, 2), fmt(r.p90, 2), fmt(r.p99, 2), fmt(r.max, 2), fmt(r.mean, 2), fmt(100 * r.elu, 0), r.samples]),
    note: 'monitorEventLoopDelay reports the lateness of a 1 ms timer, so ~1 ms is the floor of every percentile.',
  };
  const criteria = results.map((r, i) =>
    criterion(
      i === 0 ? 'D1' : 'D2',
      `event-loop delay p99 while encoding (${i === 0 ? 'real corpus' : 'zero-heavy'})`,
      r.p99,
      '<',
      20,
      'ms',
      `p50 ${fmt(r.p50, 2)}, max ${fmt(r.max, 1)} ms at ${fmt(r.MBps, 0)} MB/s`,
    ),
  );
  return { tables: [table], criteria, notes: [], data: results };
}

if (require.main === module) benchMain('loop', '', run);
