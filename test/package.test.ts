import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// The published shape: `npm pack`, install the tarball into an empty project (the addon
// builds there from source), run the bin. Slow (it compiles zstd), so it runs once.
describe('npm package', function () {
  this.timeout(600_000);
  const root = path.join(__dirname, '..', '..');

  it('packs, installs into an empty project, and `npx pagepress` runs there', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pp-pack-'));
    try {
      // --ignore-scripts: dist/ is already built by `npm test`; rebuilding it here would
      // rewrite files other tests are loading.
      const tgz = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
        .trim()
        .split('\n')
        .pop()!;
      const project = path.join(dir, 'project');
      fs.mkdirSync(project);
      fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
      execFileSync('npm', ['install', '--no-audit', '--no-fund', path.join(dir, tgz)], { cwd: project, stdio: 'pipe' });
      const version = execFileSync('npx', ['--no-install', 'pagepress', '--version'], { cwd: project, encoding: 'utf8' }).trim();
      assert.equal(version, JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version);
      const input = Buffer.concat([Buffer.alloc(8192), Buffer.from('pagepress from a tarball\n')]);
      const packed = execFileSync('npx', ['--no-install', 'pagepress', 'compress'], { cwd: project, input });
      const back = execFileSync('npx', ['--no-install', 'pagepress', '-d'], { cwd: project, input: packed });
      assert.ok(back.equals(input));
      assert.ok(fs.existsSync(path.join(project, 'node_modules', 'pagepress', 'build', 'Release', 'pagepress.node')), 'the addon was built in the consumer');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
