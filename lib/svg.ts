/**
 * Vega-Lite spec -> SVG text, in Node: Vega-Lite compiles the spec and Vega renders it with
 * `renderer: 'none'` (no browser, no canvas). Both are ES modules, loaded on first use by a
 * real dynamic import (tsc would turn `import()` into `require`), so nothing else pays for them.
 */
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const importEsm = new Function('s', 'return import(s)') as (s: string) => Promise<unknown>;

interface VegaModule {
  View: new (runtime: unknown, opts: { renderer: string }) => { toSVG(): Promise<string>; finalize(): void };
  parse(spec: unknown): unknown;
}
interface VegaLiteModule {
  compile(spec: unknown): { spec: unknown };
}

/** Renders a Vega-Lite spec to SVG text. */
export async function toSvg(spec: Record<string, unknown>): Promise<string> {
  const vega = (await importEsm('vega')) as VegaModule;
  const vl = (await importEsm('vega-lite')) as VegaLiteModule;
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
