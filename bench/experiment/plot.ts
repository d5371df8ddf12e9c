/**
 * SVG plots of the seed experiment, made with Vega-Lite + Vega (lib/svg.ts: rendered in
 * Node, no browser, no native canvas).
 */
import type { ExperimentReport, Point } from './seed';
import { METHODS } from './methods';
import { toSvg } from '../../lib/svg';

const GiB = 1024 * 1024 * 1024;
const METHOD_ORDER = ['raw', 'non-adaptive', 'seed', 'pagepress'];
const COLORS = ['#888888', '#e45756', '#f58518', '#4c78a8'];

function sizeGiB(p: Point): number {
  return Math.round((p.sizeBytes / GiB) * 1000) / 1000;
}

function methodLabel(m: string): string {
  return METHODS[m as keyof typeof METHODS]?.label ?? m;
}

const colorScale = { domain: METHOD_ORDER.map(methodLabel), range: COLORS };

/** A metric by guest size, one line per method, min-max bars, one panel per link rate. */
export function metricSpec(rep: ExperimentReport, title: string, yTitle: string, pick: (p: Point) => { median: number; min: number; max: number }, scale = 1, logY = false): Record<string, unknown> {
  const values = rep.points
    .filter((p) => p.n > 0)
    .map((p) => {
      const s = pick(p);
      return { size: sizeGiB(p), rate: p.rate, method: methodLabel(p.method), median: s.median / scale, min: s.min / scale, max: s.max / scale };
    });
  const x = { field: 'size', type: 'quantitative', title: 'guest size (GiB)', scale: { zero: false } };
  const yScale = logY ? { type: 'log' } : { zero: true };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle: `median of ${rep.config.reps} run(s), bars: min-max; workload ${rep.config.workload}` },
    data: { values },
    facet: { column: { field: 'rate', type: 'nominal', title: 'link', sort: rep.config.rates } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 320,
      height: 240,
      layer: [
        {
          mark: { type: 'line', point: true },
          encoding: { x, y: { field: 'median', type: 'quantitative', title: yTitle, scale: yScale }, color: { field: 'method', type: 'nominal', scale: colorScale, title: 'method' } },
        },
        { mark: { type: 'rule' }, encoding: { x, y: { field: 'min', type: 'quantitative', scale: yScale }, y2: { field: 'max' }, color: { field: 'method', type: 'nominal', scale: colorScale } } },
      ],
    },
    config: { background: 'white' },
  };
}

/** Pages sent per iteration (the median run of each point), one panel per size, at one rate. */
export function iterationSpec(rep: ExperimentReport, rate: string): Record<string, unknown> {
  const values: Array<Record<string, unknown>> = [];
  for (const p of rep.points.filter((q) => q.rate === rate && q.n > 0)) {
    p.iterationPages.forEach((pages, i) => {
      values.push({
        size: `${sizeGiB(p)} GiB`,
        order: p.sizeBytes,
        method: methodLabel(p.method),
        iteration: i,
        pages: Math.max(pages, 0.5),
        final: i === p.iterationPages.length - 1 ? 'final (paused)' : 'live',
      });
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `Pages sent per iteration at ${rate} (iteration 0 = full pass; last = paused copy)`, subtitle: 'the run with the median total time of each point; log scale (0 shown as 0.5)' },
    data: { values },
    facet: { column: { field: 'size', type: 'ordinal', title: 'guest', sort: { field: 'order' } } },
    spec: {
      width: 220,
      height: 220,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'iteration', type: 'quantitative', title: 'iteration', axis: { tickMinStep: 1 } },
        y: { field: 'pages', type: 'quantitative', title: 'pages', scale: { type: 'log' } },
        color: { field: 'method', type: 'nominal', scale: colorScale, title: 'method' },
        shape: { field: 'final', type: 'nominal', title: 'iteration' },
      },
    },
    config: { background: 'white' },
  };
}

/** The four plots: file name -> SVG text. */
export async function plots(rep: ExperimentReport): Promise<Record<string, string>> {
  const rate = rep.criteriaRate ?? rep.config.rates[0];
  return {
    'total-time.svg': await toSvg(metricSpec(rep, 'Total migration time', 'total time (s)', (p) => p.totalMs, 1000)),
    'downtime.svg': await toSvg(metricSpec(rep, 'Downtime (pause on the source to resume on the destination)', 'downtime (ms)', (p) => p.downtimeMs, 1, true)),
    'bytes.svg': await toSvg(metricSpec(rep, 'Bytes on the wire (both directions)', 'MiB', (p) => p.wireBytes, 1024 * 1024)),
    'dirty-pages.svg': await toSvg(iterationSpec(rep, rate)),
  };
}
