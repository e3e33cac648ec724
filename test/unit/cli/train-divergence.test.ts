// A run whose loss blows up to NaN, as a user meets it through the CLI on the real stories260K-hf:
// it fails at the first non-finite step with advice for its method, writes no model, and keeps the
// last checkpoint made before the weights went bad.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../db/database.js';
import { listMetrics } from '../../../db/metrics.js';
import { getRun } from '../../../db/runs.js';
import { listCheckpoints, runFolder } from '../../../main/train/run-folder.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { runCli } from '../../helpers/cli-home.js';
import { tempHome } from '../../helpers/temp-home.js';

const tmp = tempHome();
afterAll(() => tmp.cleanup());
const home = () => join(tmp.dir, 'home');

const tunesmith = (...args: string[]) => runCli(home(), ...args);

function runRecord(runId: number) {
  const db = openDatabase(join(home(), 'tunesmith.db'));
  try {
    return { run: getRun(db, runId)!, metrics: listMetrics(db, runId) };
  } finally {
    db.close();
  }
}

describe.skipIf(!haveAssets)('train: divergence', () => {
  beforeAll(() => {
    const data = join(tmp.dir, 'stories.jsonl');
    const rows = ['Max liked to run in the park.', 'Lily had a red ball.', 'Tom saw a big tree.', 'The sun was hot today.', 'Sam can swim fast.', 'Mia found a cat.'];
    writeFileSync(data, rows.map((r, i) => JSON.stringify({ instruction: `Tell me story ${i}`, input: '', output: r })).join('\n') + '\n');
    expect(tunesmith('data', 'import', data).code).toBe(0);
  });

  const cases = [
    // Plain SGD at lr 1 without clipping: the loss grows ×10–100 a step and reaches NaN near step 19.
    { method: 'full', args: ['--optimizer', 'sgd', '--lr', '1', '--clip', '0', '--schedule', 'constant', '--steps', '30'], advice: 'lower the learning rate (now 1) or turn on gradient clipping' },
    // ZO-SGD at lr 1 reaches NaN near step 6.
    { method: 'zo-sgd', args: ['--lr', '1', '--steps', '12'], advice: 'lower the learning rate (now 1); zeroth-order methods have no gradient clipping' },
  ];
  for (const c of cases) {
    it(`${c.method}: fails at the first NaN step, writes no model, keeps the checkpoint from before`, () => {
      const out = join(tmp.dir, c.method);
      const r = tunesmith('train', '--model', stories260K, '--dataset', '1', '--method', c.method, ...c.args, '--checkpoint-every', '2', '--threads', '1', '--out', out);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const m = /training failed: diverged at step (\d+) \(loss NaN\): (.*) \(run (\d+)\)/.exec(r.stderr);
      expect(m, r.stderr).not.toBeNull();
      const step = Number(m![1]);
      expect(m![2]).toBe(c.advice);

      const { run, metrics } = runRecord(Number(m![3]));
      expect(run.state).toBe('failed');
      expect(run.error).toBe(`diverged at step ${step} (loss NaN): ${c.advice}`);
      // Every step before the diverged one was finite and recorded; the diverged one is not.
      expect(metrics.map((x) => x.step)).toEqual(Array.from({ length: step - 1 }, (_, i) => i + 1));
      expect(metrics.every((x) => Number.isFinite(x.loss))).toBe(true);

      expect(existsSync(join(out, 'model'))).toBe(false);
      expect(existsSync(join(out, 'adapter'))).toBe(false);
      // The checkpoint of step N−1 holds the weights step N diverged on: only older ones are kept.
      const kept = listCheckpoints(runFolder(out));
      expect(kept.length).toBeGreaterThan(0);
      expect(kept.at(-1)!.step).toBeLessThan(step - 1);
      expect(r.stdout).toContain(`the checkpoint at step ${kept.at(-1)!.step} is kept; resume with: tunesmith train --resume ${out}`);
    });
  }
});
