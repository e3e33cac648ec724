// Resuming from a damaged checkpoint, through the CLI on the real stories260K-hf: a flipped byte or a
// cut-off newest checkpoint is found by its checksum and passed over for the one before it, and the
// resumed losses are exactly the uninterrupted run's from there; with no intact checkpoint the
// resume is refused, naming each damaged one.
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointPath, listCheckpoints, readCheckpointMark, runFolder } from '../../../main/train/run-folder.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { runCli, lossesByStep as lossesByStepIn } from '../../helpers/cli-home.js';
import { tempHome } from '../../helpers/temp-home.js';

const tmp = tempHome();
afterAll(() => tmp.cleanup());
const home = () => join(tmp.dir, 'home');

const tunesmith = (...args: string[]) => runCli(home(), ...args);

const lossesByStep = (runId: number) => lossesByStepIn(home(), runId);

const runId = (stdout: string) => Number(/run (\d+):/.exec(stdout)![1]);

const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Damages a checkpoint file; returns the reason resume should give. */
function flipByte(file: string): string {
  const bytes = readFileSync(file);
  const at = Math.floor(bytes.length / 2); // inside the arrays: the header still parses, the values are wrong
  bytes[at] = bytes[at]! ^ 0x10;
  writeFileSync(file, bytes);
  return 'checksum mismatch';
}

function truncateHalf(file: string): string {
  const size = statSync(file).size;
  truncateSync(file, Math.floor(size / 2));
  return `truncated: ${Math.floor(size / 2)} of ${size} bytes`;
}

describe.skipIf(!haveAssets)('train --resume with a damaged checkpoint', () => {
  const common = ['--model', stories260K, '--dataset', '1', '--lr', '1e-3', '--schedule', 'constant', '--checkpoint-every', '3', '--threads', '1'];

  /**
   * A run of 8 steps, its model removed as if it had stopped before writing it: checkpoints at
   * steps 3 and 6, and the losses of the uninterrupted run.
   */
  function stoppedRun(name: string): { dir: string; expected: Map<number, number> } {
    const dir = join(tmp.dir, name);
    const whole = tunesmith('train', ...common, '--steps', '8', '--out', dir);
    expect(whole.code, whole.stderr).toBe(0);
    rmSync(join(dir, 'model'), { recursive: true });
    expect(listCheckpoints(runFolder(dir)).map((m) => m.step)).toEqual([3, 6]);
    return { dir, expected: lossesByStep(runId(whole.stdout)) };
  }

  beforeAll(() => {
    const data = join(tmp.dir, 'stories.jsonl');
    const rows = ['Max liked to run in the park.', 'Lily had a red ball.', 'Tom saw a big tree.', 'The sun was hot today.', 'Sam can swim fast.', 'Mia found a cat.'];
    writeFileSync(data, rows.map((r, i) => JSON.stringify({ instruction: `Tell me story ${i}`, input: '', output: r })).join('\n') + '\n');
    expect(tunesmith('data', 'import', data).code).toBe(0);
  });

  const damages = [
    { name: 'a flipped byte', damage: flipByte },
    { name: 'a truncated file', damage: truncateHalf },
  ];
  for (const d of damages) {
    it(`${d.name} in the newest checkpoint: resumes from the one before, with the uninterrupted run's losses`, () => {
      const { dir, expected } = stoppedRun(`resume-${d.damage.name}`);
      const reason = d.damage(checkpointPath(runFolder(dir), 6));
      const resumed = tunesmith('train', '--resume', dir);
      expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
      expect(resumed.stdout).toContain(`resuming ${dir} from step 3 of 8`);
      expect(resumed.stderr).toContain(`checkpoint step 6 is damaged (${reason}): resuming from step 3`);
      const got = lossesByStep(runId(resumed.stdout));
      expect([...got.keys()]).toEqual([4, 5, 6, 7, 8]);
      for (const [step, loss] of got) expect(loss, `step ${step}`).toBe(expected.get(step));
      // The damaged checkpoint was replaced by the resumed run's own.
      expect(listCheckpoints(runFolder(dir)).map((m) => m.step)).toEqual([3, 6]);
      expect(readCheckpointMark(checkpointPath(runFolder(dir), 6)).sha256).toBe(sha256Of(checkpointPath(runFolder(dir), 6)));
    });
  }

  it('every checkpoint damaged: the resume is refused, naming each', () => {
    const { dir } = stoppedRun('resume-none');
    const newest = flipByte(checkpointPath(runFolder(dir), 6));
    const older = truncateHalf(checkpointPath(runFolder(dir), 3));
    const r = tunesmith('train', '--resume', dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`no checkpoint in ${join(dir, 'checkpoints')} is intact: step 6 (${newest}), step 3 (${older}); start the run again in a new folder`);
    expect(r.stdout).not.toContain('resuming');
  });
});
