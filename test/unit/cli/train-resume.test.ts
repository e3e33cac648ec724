// Checkpoint and resume through the CLI, as a user meets it: the whole app (CLI and trainer process)
// is killed with SIGKILL mid-run, `train --resume` continues from the last checkpoint, and the loss
// of every step after it is exactly (bit for bit) what an uninterrupted run gives. A run belongs to
// one process, one folder and one data set: other commands on the same home leave a live run alone
// and refuse to resume into it or remove its dataset; a copied or moved run folder resumes where it
// is now; a checkpoint refuses to resume on data that changed.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../db/database.js';
import { listRuns } from '../../../db/runs.js';
import { packagePath } from '../../../main/paths.js';
import { listCheckpoints, runFolder } from '../../../main/train/run-folder.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { smallGqaConfig, writeRandomModel } from '../../helpers/random-model.js';
import { runCli, lossesByStep as lossesByStepIn } from '../../helpers/cli-home.js';
import { tempHome } from '../../helpers/temp-home.js';

const tmp = tempHome();
afterAll(() => tmp.cleanup());
const home = () => join(tmp.dir, 'home');

const tunesmith = (...args: string[]) => runCli(home(), ...args);

const lossesByStep = (runId: number) => lossesByStepIn(home(), runId);

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

describe.skipIf(!haveAssets)('a run belongs to one process, one folder and one data set', () => {
  const home2 = () => join(tmp.dir, 'home-owner');
  const cli = (...args: string[]) => runCli(home2(), ...args);
  const runState = (id: number) => (JSON.parse(cli('runs', 'list', '--json').stdout) as { id: number; state: string; error: string | null }[]).find((r) => r.id === id)!;
  const rows = (n: number, edit = '') => Array.from({ length: n }, (_, i) => JSON.stringify({ instruction: `Story ${i}?`, input: '', output: `Lily had ${i} red balls${i === 3 ? edit : ''}.` })).join('\n') + '\n';
  const small = ['--model', stories260K, '--seq-len', '64', '--threads', '1', '--lr', '1e-3'];
  /** Every file under `dir` with its size and modification time: equal snapshots mean nothing was written. */
  const snapshot = (dir: string) =>
    (readdirSync(dir, { recursive: true }) as string[]).sort().map((f) => {
      const st = statSync(join(dir, f));
      return `${f} ${st.size} ${st.mtimeMs}`;
    });
  const datasetIdOf = (printed: string) => Number(/imported dataset (\d+)/.exec(printed)![1]);
  const runIdOf = (printed: string) => Number(/run (\d+):/.exec(printed)![1]);

  it('a second command leaves a live CLI run running, refuses to resume into it or remove its data, and settles it once its process is gone', { timeout: 120_000 }, async () => {
    const file = join(tmp.dir, 'live.jsonl');
    writeFileSync(file, rows(12));
    const datasetId = datasetIdOf(cli('data', 'import', file).stdout);
    const dir = join(tmp.dir, 'live-run');
    const child: ChildProcess = spawn(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', home2(), 'train', ...small, '--dataset', String(datasetId), '--steps', '1000000', '--checkpoint-every', '2', '--out', dir], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      let printed = '';
      await new Promise<void>((resolve) => child.stdout!.on('data', (d) => (printed += d, /step 3\//.test(printed) && resolve())));
      const runId = runIdOf(printed);

      const resumed = cli('train', '--resume', dir);
      expect(resumed.code).toBe(1);
      expect(resumed.stderr).toMatch(new RegExp(`run ${runId} \\(".*"\\) is still running \\(owned by process ${child.pid}\\) in ${dir}`));
      expect(resumed.stdout).not.toContain('resuming');
      const removed = cli('data', 'rm', String(datasetId));
      expect(removed.code).toBe(1);
      expect(removed.stderr).toMatch(new RegExp(`dataset ${datasetId} is in use: run ${runId} .* is still running \\(owned by process ${child.pid}\\)`));
      expect(runState(runId).state).toBe('running'); // none of these other processes failed it

      process.kill(-child.pid!, 'SIGKILL');
      await exited;
      expect(runState(runId)).toMatchObject({ state: 'failed', error: expect.stringContaining('stopped while this run was in progress') });
      expect(cli('data', 'rm', String(datasetId)).code).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
  });

  it('a copied run folder resumes into the copy, leaving the original untouched; a moved one resumes', () => {
    const file = join(tmp.dir, 'copy.jsonl');
    writeFileSync(file, rows(12));
    const original = join(tmp.dir, 'original-run');
    const trained = cli('train', ...small, '--data', file, '--steps', '4', '--checkpoint-every', '2', '--out', original);
    expect(trained.code, trained.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(original, 'run.json'), 'utf8'))).toMatchObject({ format: 2, spec: { out: '.', model: stories260K } });
    rmSync(join(original, 'model'), { recursive: true }); // as a run that stopped after its step-2 checkpoint

    const copy = join(tmp.dir, 'copied-run');
    cpSync(original, copy, { recursive: true });
    const before = snapshot(original);
    const fromCopy = cli('train', '--resume', copy, '--steps', '6', '--json');
    expect(fromCopy.code, fromCopy.stderr).toBe(0);
    expect(fromCopy.stdout).toContain(`resuming ${copy} from step 2 of 6`);
    const result = (JSON.parse(fromCopy.stdout.slice(fromCopy.stdout.indexOf('{'))) as { result: { runDir: string; model: string; lastCheckpoint: string } }).result;
    expect(result).toMatchObject({ runDir: copy, model: join(copy, 'model'), lastCheckpoint: join(copy, 'checkpoints', 'step-00000004.ckpt') });
    expect(snapshot(original)).toEqual(before);

    const moved = join(tmp.dir, 'moved-run');
    renameSync(original, moved);
    const fromMoved = cli('train', '--resume', moved, '--steps', '6');
    expect(fromMoved.code, fromMoved.stderr).toBe(0);
    expect(fromMoved.stdout).toContain(`resuming ${moved} from step 2 of 6`);
    expect(fromMoved.stdout).toContain(`model written to ${join(moved, 'model')}`);
    expect(readdirSync(join(moved, 'checkpoints'))).toContain('step-00000004.ckpt');
  });

  it('a checkpoint does not resume on a dataset that changed under the same id', () => {
    const file = join(tmp.dir, 'hashed.jsonl');
    // Content no other test imports: `train --data` would otherwise reuse that dataset.
    writeFileSync(file, rows(12, ' and a green one'));
    const dir = join(tmp.dir, 'hashed-run');
    const trained = cli('train', ...small, '--data', file, '--steps', '4', '--checkpoint-every', '2', '--out', dir);
    expect(trained.code, trained.stderr).toBe(0);
    const datasetId = Number(/imported .* as dataset (\d+)/.exec(trained.stdout)![1]);
    rmSync(join(dir, 'model'), { recursive: true }); // as a run that stopped after its step-2 checkpoint
    const sidecar = join(dir, 'checkpoints', 'step-00000002.ckpt.json');
    const hash = (JSON.parse(readFileSync(sidecar, 'utf8')) as { datasetHash: string }).datasetHash;
    expect(hash).toMatch(/^[0-9a-f]{64}$/);

    // Same row count, one answer edited; the newest id is handed out again after a removal.
    expect(cli('data', 'rm', String(datasetId)).code).toBe(0);
    writeFileSync(file, rows(12, ' and a blue one'));
    expect(datasetIdOf(cli('data', 'import', file).stdout)).toBe(datasetId);
    const refused = cli('train', '--resume', dir, '--steps', '6');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(`the training data of dataset ${datasetId} \\("hashed.jsonl"\\) changed since checkpoint ${sidecar.slice(0, -5)} was written \\(content hash ${hash.slice(0, 12)}, now [0-9a-f]{12}\\): resuming needs exactly the data the run was trained on; start a new run`),
    );
    expect(refused.stdout).not.toMatch(/run \d+:/); // refused before a run was recorded
  });
});
