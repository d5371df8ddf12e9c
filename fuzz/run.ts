/**
 * `npm run fuzz -- --seconds N`: runs every harness (native libFuzzer binaries in one lane,
 * JS harnesses in this process in another, so both cores work) for a share of N seconds,
 * prints executions, native coverage (edges) and findings per harness, saves each finding
 * under fuzz/findings/<harness>/ with the command that replays it, and exits 1 on any.
 *
 *   npm run fuzz -- --seconds 120            every harness, about 120 s wall
 *   npm run fuzz -- --only stream,xbzrle     some of them
 *   npm run fuzz -- --seed 1234              JS case seeds start here (default: from the clock)
 *   npm run fuzz -- --replay FILE            replays one saved finding
 *
 * Under CI=true a missing clang is a failure; elsewhere the native lane is skipped, with the reason.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Finding, JsHarness } from './js/harness';
import { FUZZ_DIR, JS_HARNESSES, nativeHarnesses } from './harnesses';

/** RSS growth a JS harness may cause over the runner's baseline (bounded memory). */
const RSS_CAP_BYTES = 1024 * 1024 * 1024;
/** Findings saved per harness (the rest are only counted). */
const MAX_SAVED = 10;
const FINDINGS = path.join(FUZZ_DIR, 'findings');
const BUILD = path.join(FUZZ_DIR, 'build');

interface Row {
  harness: string;
  kind: 'native' | 'js';
  executions: number;
  edges: number | null;
  findings: number;
  seconds: number;
  note: string;
}

function args(argv: string[]): { seconds: number; only: string[] | null; seed: number; replay: string | null } {
  const o = { seconds: 60, only: null as string[] | null, seed: Date.now() % 1_000_000_007, replay: null as string | null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--only') o.only = v().split(',');
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--replay') o.replay = v();
    else throw new Error(`unknown argument ${a} (known: --seconds N, --only a,b, --seed S, --replay FILE)`);
  }
  if (!(o.seconds > 0)) throw new Error('--seconds must be a positive number');
  return o;
}

const rel = (p: string) => path.relative(process.cwd(), p) || '.';

/** Builds the native harnesses; null when they cannot be built here (the reason is returned). */
function buildNative(names: string[]): string | null {
  const r = spawnSync('bash', [path.join(FUZZ_DIR, 'native', 'build.sh'), ...names], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (r.status === 0) return null;
  return r.status === 127 ? 'clang++ not found (apt-get install clang)' : `fuzz/native/build.sh failed: ${r.stderr.trim().split('\n').slice(-5).join('\n')}`;
}

/** Runs one libFuzzer binary for `seconds`; parses its coverage and execution count. */
function runNative(name: string, seconds: number): Promise<Row> {
  const findings = path.join(FINDINGS, name);
  const work = path.join(BUILD, 'corpus', name);
  fs.mkdirSync(findings, { recursive: true });
  fs.mkdirSync(work, { recursive: true });
  const before = new Set(fs.readdirSync(findings));
  const bin = path.join(BUILD, name);
  const argv = [
    `-max_total_time=${Math.max(1, Math.round(seconds))}`,
    '-timeout=10',
    '-rss_limit_mb=1024',
    '-print_final_stats=1',
    `-artifact_prefix=${findings}/`,
    work,
    path.join(FUZZ_DIR, 'corpus', name),
  ];
  const t0 = Date.now();
  // libFuzzer's log goes to a file, not a pipe: the JS lane may keep this event loop busy,
  // and a full pipe would stall the fuzzer.
  const logFile = path.join(BUILD, `${name}.log`);
  const log = fs.openSync(logFile, 'w');
  return new Promise((resolve) => {
    const p = spawn(bin, argv, { stdio: ['ignore', 'ignore', log], env: { ...process.env, UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' } });
    p.on('close', (code) => {
      fs.closeSync(log);
      const text = fs.readFileSync(logFile, 'utf8');
      const tail = text.slice(-64 * 1024);
      let edges: number | null = null;
      for (const m of text.matchAll(/cov: (\d+)/g)) edges = Number(m[1]);
      const units = /stat::number_of_executed_units: (\d+)/.exec(tail);
      let executions = 0;
      if (units) executions = Number(units[1]);
      else for (const m of text.matchAll(/^#(\d+)\s/gm)) executions = Math.max(executions, Number(m[1]));
      const fresh = fs.readdirSync(findings).filter((f) => !before.has(f) && !f.endsWith('.txt'));
      for (const f of fresh) {
        const file = path.join(findings, f);
        fs.writeFileSync(`${file}.txt`, `replay: ${rel(bin)} ${rel(file)}\n   or: npm run fuzz -- --replay ${rel(file)}\n\n${tail.slice(-8000)}`);
        console.log(`  finding ${name}: ${rel(file)}\n    replay: ${rel(bin)} ${rel(file)}`);
      }
      const crashed = code !== 0 && fresh.length === 0;
      if (crashed) console.log(`  ${name}: libFuzzer exited ${code} without an artifact:\n${tail.slice(-2000)}`);
      resolve({ harness: name, kind: 'native', executions, edges, findings: fresh.length + (crashed ? 1 : 0), seconds: (Date.now() - t0) / 1000, note: '' });
    });
  });
}

/** Runs one JS case with the harness's time cap; a Finding or a hang is returned, not thrown. */
async function runCase(h: JsHarness, seed: number, outcomes?: Map<string, number>): Promise<Finding | null> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<Finding>((resolve) => {
    timer = setTimeout(() => resolve(new Finding(`case did not finish within ${h.caseTimeoutMs} ms (hang)`)), h.caseTimeoutMs);
  });
  try {
    const done = h.run(seed).then((o) => {
      outcomes?.set(o, (outcomes.get(o) ?? 0) + 1);
      return null;
    });
    return await Promise.race([done, hang]);
  } catch (err) {
    if (err instanceof Finding) return err;
    return new Finding(`harness threw outside its checks: ${(err as Error)?.stack ?? String(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

function saveJsFinding(name: string, seed: number, f: Finding): string {
  const dir = path.join(FINDINGS, name);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `seed-${seed}.json`);
  if (f.input) fs.writeFileSync(path.join(dir, `seed-${seed}.bin`), f.input);
  fs.writeFileSync(file, JSON.stringify({ harness: name, seed, message: f.message, input: f.input ? `seed-${seed}.bin` : null, replay: `npm run fuzz -- --replay ${rel(file)}` }, null, 2) + '\n');
  return file;
}

const gc = (globalThis as { gc?: () => void }).gc;

async function runJs(name: string, seconds: number, firstSeed: number): Promise<Row> {
  const h = JS_HARNESSES[name]();
  const t0 = Date.now();
  const deadline = t0 + seconds * 1000;
  gc?.();
  const baseline = process.memoryUsage().rss;
  let executions = 0;
  let findings = 0;
  let note = '';
  let peak = baseline;
  const outcomes = new Map<string, number>();
  try {
    for (let seed = firstSeed; Date.now() < deadline; seed++) {
      const f = await runCase(h, seed, outcomes);
      executions++;
      await new Promise((r) => setImmediate(r)); // let timers and the native lane's I/O run between cases
      const rss = process.memoryUsage().rss;
      peak = Math.max(peak, rss);
      let found = f;
      if (!found && rss - baseline > RSS_CAP_BYTES) {
        gc?.();
        const after = process.memoryUsage().rss;
        if (after - baseline > RSS_CAP_BYTES) found = new Finding(`RSS grew by ${((after - baseline) / 2 ** 20).toFixed(0)} MiB over the ${RSS_CAP_BYTES / 2 ** 20} MiB cap`);
      }
      if (found) {
        findings++;
        if (findings <= MAX_SAVED) {
          const file = saveJsFinding(name, seed, found);
          console.log(`  finding ${name} seed ${seed}: ${found.message.split('\n')[0].slice(0, 400)}\n    replay: npm run fuzz -- --replay ${rel(file)}`);
        }
        if (/hang|RSS grew/.test(found.message)) {
          note = 'stopped after a hang or memory finding';
          break;
        }
      }
    }
  } finally {
    await h.close?.();
  }
  const top = [...outcomes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  if (!note) note = `seeds ${firstSeed}..${firstSeed + executions - 1}, peak RSS +${((peak - baseline) / 2 ** 20).toFixed(0)} MiB; ${top}`;
  return { harness: name, kind: 'js', executions, edges: null, findings, seconds: (Date.now() - t0) / 1000, note };
}

async function replay(file: string): Promise<number> {
  if (file.endsWith('.json')) {
    const f = JSON.parse(fs.readFileSync(file, 'utf8')) as { harness: string; seed: number };
    const h = JS_HARNESSES[f.harness]();
    console.log(`replaying ${f.harness} seed ${f.seed}`);
    const found = await runCase(h, f.seed);
    await h.close?.();
    console.log(found ? `still fails: ${found.message}` : 'passes now');
    return found ? 1 : 0;
  }
  const name = path.basename(path.dirname(path.resolve(file)));
  if (!nativeHarnesses().includes(name)) throw new Error(`${file}: not under fuzz/findings/<harness>/ of a native harness, nor a .json of a JS one`);
  const why = buildNative([name]);
  if (why) throw new Error(why);
  const r = spawnSync(path.join(BUILD, name), [file], { stdio: 'inherit' });
  return r.status === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  const o = args(process.argv.slice(2));
  if (o.replay) return replay(o.replay);
  const natives = nativeHarnesses().filter((n) => !o.only || o.only.includes(n));
  const js = Object.keys(JS_HARNESSES).filter((n) => !o.only || o.only.includes(n));
  const unknown = (o.only ?? []).filter((n) => !natives.includes(n) && !js.includes(n));
  if (unknown.length) throw new Error(`unknown harness ${unknown.join(', ')} (known: ${[...nativeHarnesses(), ...Object.keys(JS_HARNESSES)].join(', ')})`);
  const t0 = Date.now();
  const rows: Row[] = [];
  let failed = false;
  let nativeLane: Promise<Row[]> = Promise.resolve([]);
  if (natives.length) {
    const why = buildNative(natives);
    if (why) {
      const ci = process.env.CI === 'true';
      console.log(`native harnesses ${ci ? 'FAILED' : 'skipped'}: ${why}`);
      if (ci) failed = true;
      for (const n of natives) rows.push({ harness: n, kind: 'native', executions: 0, edges: null, findings: 0, seconds: 0, note: `${ci ? 'failed' : 'skipped'}: ${why}` });
    } else {
      // Both lanes take the whole time when both have harnesses (two cores).
      const share = o.seconds / natives.length;
      nativeLane = (async () => {
        const out: Row[] = [];
        for (const n of natives) out.push(await runNative(n, share));
        return out;
      })();
    }
  }
  console.log(`JS case seeds start at ${o.seed} (--seed ${o.seed} repeats this run)`);
  const jsRows: Row[] = [];
  for (const n of js) jsRows.push(await runJs(n, o.seconds / js.length, o.seed));
  rows.push(...(await nativeLane), ...jsRows);
  console.log(`\n${'harness'.padEnd(20)} ${'kind'.padEnd(6)} ${'executions'.padStart(11)} ${'edges'.padStart(6)} ${'findings'.padStart(8)} ${'seconds'.padStart(7)}  note`);
  for (const r of rows) {
    console.log(
      `${r.harness.padEnd(20)} ${r.kind.padEnd(6)} ${String(r.executions).padStart(11)} ${String(r.edges ?? '-').padStart(6)} ${String(r.findings).padStart(8)} ${r.seconds.toFixed(1).padStart(7)}  ${r.note}`,
    );
    if (r.findings) failed = true;
  }
  const total = rows.reduce((s, r) => s + r.findings, 0);
  console.log(`\n${total} finding(s) in ${((Date.now() - t0) / 1000).toFixed(0)} s${total ? `; saved under ${rel(FINDINGS)}/` : ''}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`fuzz: ${(err as Error).message}`);
    process.exit(2);
  },
);
