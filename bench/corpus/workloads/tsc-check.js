'use strict';
// Workload 3 for bench/corpus/snapshot: a node process running the TypeScript compiler
// API, type-checking the project's lib/*.ts together with TypeScript's own lib.*.d.ts
// files (esnext.full, which pulls in the DOM) and @types/node, several times over.
// Keeps the last programs alive. Prints READY when warm, then idles until killed.
// Args: --root DIR (the pagepress checkout) [--scale X] (number of rounds).
const fs = require('node:fs');
const path = require('node:path');

function argValue(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const root = path.resolve(argValue('--root', path.join(__dirname, '..', '..', '..')));
const scale = Number(argValue('--scale', '1'));
const rounds = Math.max(1, Math.round(4 * scale));

const ts = require(path.join(root, 'node_modules', 'typescript'));
const libDir = path.join(root, 'lib');
let rootNames = [];
try {
  rootNames = fs
    .readdirSync(libDir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(libDir, f));
} catch {
  /* no lib dir: check the lib.d.ts files alone */
}
const tsLibDir = path.dirname(ts.getDefaultLibFilePath({}));
// Also check a few lib.d.ts files directly as roots (they are "its own lib.d.ts files").
for (const f of ['lib.es2022.full.d.ts', 'lib.webworker.importscripts.d.ts', 'lib.scripthost.d.ts']) {
  if (fs.existsSync(path.join(tsLibDir, f))) rootNames.push(path.join(tsLibDir, f));
}

const options = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Node10,
  lib: ['lib.esnext.full.d.ts'],
  types: ['node'],
  typeRoots: [path.join(root, 'node_modules', '@types')],
  strict: true,
  noEmit: true,
  skipLibCheck: false,
};

const kept = [];
let diagCount = 0;
for (let r = 0; r < rounds; r++) {
  // A fresh host each round, so nothing is shared between programs (like a watch
  // process that rebuilds from scratch).
  const host = ts.createCompilerHost(options, true);
  const program = ts.createProgram({ rootNames, options, host });
  const diags = ts.getPreEmitDiagnostics(program);
  diagCount = diags.length;
  const formatted = ts.formatDiagnostics(diags.slice(0, 200), {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => root,
    getNewLine: () => '\n',
  });
  kept.push({ program, checker: program.getTypeChecker(), formatted });
  if (kept.length > 2) kept.shift();
}
globalThis.__keep = kept;
process.stdout.write(`READY tsc-check rounds=${rounds} roots=${rootNames.length} ` + `files=${kept[kept.length - 1].program.getSourceFiles().length} diagnostics=${diagCount}\n`);

const ppid = process.ppid;
const started = Date.now();
setInterval(() => {
  if (process.ppid !== ppid || Date.now() - started > 3600e3) process.exit(0);
}, 500);
