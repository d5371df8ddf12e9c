/**
 * SVG plots of runs: private utilisation and queue length over time, one line per manager.
 * Rendered by lib/svg.ts (Vega-Lite + Vega, loaded only when a plot is made).
 */
import type { SimulationResult } from './simulate';
import { toSvg } from '../svg';

/** Keeps at most one point per `step` seconds per manager (the last), so plots stay small. */
function thin<T extends { t: number }>(samples: readonly T[], step: number): T[] {
  const out: T[] = [];
  for (const s of samples) {
    if (out.length > 0 && Math.floor(out[out.length - 1].t / step) === Math.floor(s.t / step)) out[out.length - 1] = s;
    else out.push(s);
  }
  return out;
}

function lineSpec(title: string, values: Array<Record<string, unknown>>, y: Record<string, unknown>, facet?: Record<string, unknown>): Record<string, unknown> {
  const layer = {
    mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.2 },
    encoding: { x: { field: 'hours', type: 'quantitative', title: 'time (h)' }, y, color: { field: 'manager', type: 'nominal', title: 'manager' } },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    ...(facet ? { facet, spec: { width: 640, height: 160, ...layer } } : { width: 640, height: 240, ...layer }),
    config: { background: 'white' },
  };
}

/** File name -> SVG text: utilisation.svg (cpu, memory, storage panels) and queue.svg. */
export async function plotRuns(results: readonly SimulationResult[]): Promise<Record<string, string>> {
  const util: Array<Record<string, unknown>> = [];
  const queue: Array<Record<string, unknown>> = [];
  for (const r of results) {
    for (const s of thin(r.series, 60)) {
      const hours = s.t / 3600;
      util.push(
        { manager: r.manager, hours, resource: 'cpu', value: s.cpu },
        { manager: r.manager, hours, resource: 'memory', value: s.mem },
        { manager: r.manager, hours, resource: 'storage', value: s.storage },
      );
      queue.push({ manager: r.manager, hours, queue: s.queue });
    }
  }
  return {
    'utilisation.svg': await toSvg(
      lineSpec('Private-cloud utilisation', util, { field: 'value', type: 'quantitative', title: 'used / total', axis: { format: '%' } }, { row: { field: 'resource', type: 'nominal', title: null } }),
    ),
    'queue.svg': await toSvg(lineSpec('Requests waiting in the queue', queue, { field: 'queue', type: 'quantitative', title: 'queued requests' })),
  };
}
