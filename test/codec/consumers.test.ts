/**
 * Every consumer of the codec list offers every registered codec: the CLI's --codec
 * choices and help (compress, xen ssh, migrate send, predict, plan), --level help, and the
 * predictor's built-in profiles. Run through the real bin, so a hand-written list anywhere
 * in the CLI fails here as soon as a codec is added.
 */
import * as assert from 'node:assert/strict';
import { CODECS } from '../../lib/codec/registry';
import { DEFAULT_PROFILES } from '../../lib/predict/relocation';
import { run } from '../cli/helpers';

/** The `--codec` choices of one command's help, as commander prints them. */
function codecChoices(help: string): string[] {
  const flat = help.replace(/\s+/g, ' ');
  const m = /--codec <NAME> .*?\(choices: ([^)]*?), default: "\w+"\)/.exec(flat);
  assert.ok(m, `no --codec choices in:\n${help}`);
  return [...m[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]);
}

describe('codec list consumers', function () {
  this.timeout(30000);

  const commands: { args: string[]; auto: boolean; estimated: boolean }[] = [
    { args: ['compress', '--help'], auto: true, estimated: false },
    { args: ['xen', 'ssh', '--help'], auto: true, estimated: false },
    { args: ['migrate', 'send', '--help'], auto: true, estimated: false },
    { args: ['predict', '--help'], auto: false, estimated: true },
    { args: ['plan', '--help'], auto: false, estimated: true },
  ];
  for (const { args, auto, estimated } of commands) {
    it(`pagepress ${args.slice(0, -1).join(' ')} offers every ${estimated ? 'estimated ' : ''}codec${auto ? ' and auto' : ''}`, async () => {
      const r = await run(args);
      const help = r.stdout.toString();
      assert.equal(r.code, 0, r.stderr);
      const want = CODECS.filter((c) => !estimated || c.estimate).map((c) => c.name as string);
      assert.deepEqual(codecChoices(help).sort(), [...want, ...(auto ? ['auto'] : [])].sort());
      if (auto) for (const c of CODECS) assert.ok(help.replace(/\s+/g, ' ').includes(`${c.name} ${c.levels.min}`), `--level help lacks ${c.name}`);
    });
  }

  it('the predictor has a built-in profile for exactly the codecs with an estimate', () => {
    assert.deepEqual(
      Object.keys(DEFAULT_PROFILES).sort(),
      CODECS.filter((c) => c.estimate)
        .map((c) => c.name as string)
        .sort(),
    );
    for (const c of CODECS) if (c.estimate) assert.deepEqual(DEFAULT_PROFILES[c.name], { codec: c.name, ...c.estimate });
  });
});
