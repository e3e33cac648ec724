// Checkpoint and resume through the CLI, as a user meets it: the whole app (CLI and trainer process)
// is killed with SIGKILL mid-run, `train --resume` continues from the last checkpoint, and the loss
// of every step after it is exactly (bit for bit) what an uninterrupted run gives.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../db/database.js';
import { listMetrics } from '../../../db/metrics.js';
import { listRuns } from '../../../db/runs.js';
import { packagePath } from '../../../main/paths.js';
import { listCheckpoints, runFolder } from '../../../main/train/run-folder.js';
import { haveAssets } from '../../helpers/assets.js';
import { smallGqaConfig, writeRandomModel } from '../../helpers/random-model.js';
import { tempHome } from '../../helpers/temp-home.js';

const tmp = tempHome();
afterAll(() => tmp.cleanup());
const home = () => join(tmp.dir, 'home');

function tunesmith(...args: string[]) {
  const r = spawnSync(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', home(), ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lossesByStep(runId: number): Map<number, number> {
  const db = openDatabase(join(home(), 'tunesmith.db'));
  try {
    return new Map(listMetrics(db, runId).map((m) => [m.step, m.loss!]));
  } finally {
    db.close();
  }
}

/** Starts a training CLI in its own process group and SIGKILLs the group once `killAtStep` is printed. */
function trainAndKill(args: string[], killAtStep: number): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', home(), ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (new RegExp(`step ${killAtStep}/`).test(out)) process.kill(-child.pid!, 'SIGKILL');
    });
    child.on('exit', () => resolve(out));
  });
}

describe.skipIf(!haveAssets)('train --resume after SIGKILL', () => {
  let model: string;
  const data = join(tmp.dir, 'data.jsonl');
  beforeAll(async () => {
    // Big enough that a step takes a while (so the kill lands mid-run), small enough for CI.
    model = await writeRandomModel(join(tmp.dir, 'model'), { ...smallGqaConfig, hidden_size: 192, intermediate_size: 512, num_hidden_layers: 4, num_attention_heads: 6, num_key_value_heads: 2 });
    const rows = Array.from({ length: 24 }, (_, i) => JSON.stringify({ instruction: `Say number ${i}`, input: '', output: `Once upon a time there was number ${i} and it was happy.` }));
    writeFileSync(data, rows.join('\n') + '\n');
    expect(tunesmith('data', 'import', data).code).toBe(0);
  });

  for (const method of ['full', 'lisa', 'zo-sgd']) {
    it(`${method}: the resumed run repeats the uninterrupted run's losses exactly`, async () => {
      const common = ['train', '--model', model, '--dataset', '1', '--method', method, '--steps', '30', '--lr', method === 'zo-sgd' ? '1e-4' : '1e-3', '--batch-size', '2', '--checkpoint-every', '3', '--lisa-gamma', '1', '--lisa-period', '4', '--threads', '1'];
      const whole = tunesmith(...common, '--out', join(tmp.dir, `${method}-whole`));
      expect(whole.code, whole.stderr).toBe(0);
      const wholeRunId = Number(/run (\d+):/.exec(whole.stdout)![1]);
      const expected = lossesByStep(wholeRunId);
      expect(expected.size).toBe(30);

      const killedDir = join(tmp.dir, `${method}-killed`);
      const printed = await trainAndKill([...common, '--out', killedDir], 8);
      expect(printed).not.toContain('done:');
      const last = listCheckpoints(runFolder(killedDir)).at(-1);
      expect(last, 'a checkpoint was written before the kill').toBeDefined();

      const resumed = tunesmith('train', '--resume', killedDir);
      expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
      expect(resumed.stdout).toContain(`resuming ${killedDir} from step ${last!.step} of 30`);
      const resumedRunId = Number(/run (\d+):/.exec(resumed.stdout)![1]);
      const got = lossesByStep(resumedRunId);
      expect([...got.keys()]).toEqual(Array.from({ length: 30 - last!.step }, (_, i) => last!.step + 1 + i));
      for (const [step, loss] of got) expect(loss, `step ${step}`).toBe(expected.get(step));

      // The killed run is not left "running" in history.
      const db = openDatabase(join(home(), 'tunesmith.db'));
      const killedRun = listRuns(db).find((r) => (r.spec as { out: string }).out === killedDir && !(r.spec as { resumeFrom?: string }).resumeFrom);
      db.close();
      expect(killedRun?.state).toBe('failed');
    });
  }
});
