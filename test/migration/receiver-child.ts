/**
 * A migration receiver in its own process, for the fault tests (a process that must die).
 * argv[2]: JSON { host?, port?, threads?, idleTimeoutMs?, corruptPfn?, insecure? }. Prints one JSON
 * object per line: {"event":"listening","port":N}, {"event":"iteration",...} at each new
 * iteration, then {"event":"done",...} (exit 0) or {"event":"error","code","message","phase"} (exit 1).
 */
import { receive } from '../../lib/migration/receiver';

function emit(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as { host?: string; port?: number; threads?: number; idleTimeoutMs?: number; corruptPfn?: number; insecure?: boolean };
let lastIteration = -1;
receive(
  { host: cfg.host ?? '127.0.0.1', port: cfg.port ?? 0 },
  {
    threads: cfg.threads ?? 1,
    idleTimeoutMs: cfg.idleTimeoutMs ?? 20_000,
    insecure: cfg.insecure,
    hooks: cfg.corruptPfn === undefined ? undefined : { corruptPfn: cfg.corruptPfn },
    onListening: (a) => emit({ event: 'listening', port: a.port }),
    onProgress: (p) => {
      if (p.iteration !== lastIteration) {
        lastIteration = p.iteration;
        emit({ event: 'iteration', iteration: p.iteration, phase: p.phase });
      }
    },
  },
).then(
  (g) => {
    emit({ event: 'done', pages: g.pageCount, pagesReceived: g.report.pagesReceived, state: g.state });
    process.exitCode = 0;
  },
  (err: { code?: string; message: string; phase?: string }) => {
    emit({ event: 'error', code: err.code, message: err.message, phase: err.phase });
    process.exitCode = 1;
  },
);
