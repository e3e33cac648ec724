// Training-run continuity and exports through the real dispatcher, database and trainer processes:
// a LoRA run paused (cancel writes a checkpoint) and resumed as a new run whose metrics continue the
// same step numbering; history's training summary; held-out loss with the adapter; PEFT and merged
// exports recorded and listed; and jobs.start refusing a run that will not fit, naming what would.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiReply, Run } from '../../../main/api/contract.js';
import { dispatch } from '../../../main/api/dispatch.js';
import { createAppContext, type AppContext } from '../../../main/app-context.js';
import { trainerEntry } from '../../../main/paths.js';
import { forkLauncher } from '../../../main/trainer/launcher.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { tempHome } from '../../helpers/temp-home.js';

describe.skipIf(!haveAssets)('runs.resume, runs.timeline, runs.checkpoints, exports.*', () => {
  const home = tempHome();
  let ctx: AppContext;
  let datasetId = 0;
  const call = async <T>(method: string, params: unknown): Promise<T> => {
    const r: ApiReply = await dispatch(ctx.handlers, 1, method, params);
    if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
    return r.result as T;
  };
  const settled = (id: number) => ctx.jobs.settled(id);
  const lora = (out: string, steps: number) => ({
    kind: 'train', method: 'lora', model: stories260K, datasetId, out, steps, lr: 0.01, seqLen: 64, checkpointEvery: 0,
  });
  let pausedId = 0;
  let resumedId = 0;

  beforeAll(async () => {
    ctx = createAppContext({ home: join(home.dir, 'home'), mode: 'cli', launchTrainer: forkLauncher(trainerEntry()) });
    const file = join(home.dir, 'd.jsonl');
    writeFileSync(file, Array.from({ length: 30 }, (_, i) => JSON.stringify({ instruction: `Story ${i}?`, input: '', output: `Lily had ${i} red balls.` })).join('\n') + '\n');
    datasetId = (await call<{ dataset: { id: number } }>('data.import', { file, model: stories260K })).dataset.id;
  });
  afterAll(() => {
    ctx.close();
    home.cleanup();
  });

  it('pauses a LoRA run with a checkpoint, offers it for resuming, and resumes it with one step numbering', async () => {
    const out = join(home.dir, 'home', 'runs', 'lora-a');
    const { run } = await call<{ run: Run }>('jobs.start', { spec: lora(out, 3000) });
    pausedId = run.id;
    expect(run.training).toMatchObject({ method: 'lora', runDir: out, resumed: false });
    const seen = new Promise<void>((resolve) => {
      const off = ctx.hub.subscribe((e) => {
        if (e.type === 'run.metric' && e.runId === run.id && e.metric.step >= 5) off(), resolve();
      });
    });
    await seen;
    expect(await call('runs.checkpoints', { runId: run.id })).toMatchObject({ resumable: false, reason: 'the run is still going' });
    const stillRunning = `run ${run.id} \\(".*"\\) is still running \\(owned by process ${process.pid}\\)`;
    await expect(call('runs.resume', { runId: run.id })).rejects.toThrow(new RegExp(`conflict: ${stillRunning}: pause it first`));
    await expect(call('jobs.start', { spec: lora(out, 10) })).rejects.toThrow(new RegExp(`conflict: ${stillRunning} in ${out}: a run folder takes one run at a time`));
    await expect(call('datasets.remove', { id: datasetId })).rejects.toThrow(new RegExp(`conflict: dataset ${datasetId} is in use: ${stillRunning}; cancel it`));
    // Another app on the same home (a CLI command, a second window) leaves a run with a live owner alone.
    createAppContext({ home: join(home.dir, 'home'), mode: 'cli', launchTrainer: forkLauncher(trainerEntry()) }).close();
    expect((await call<{ run: Run }>('runs.get', { id: run.id })).run.state).toBe('running');
    await call('jobs.cancel', { runId: run.id });
    const paused = await settled(run.id);
    expect(paused.state).toBe('cancelled');
    const result = paused.result as { lastCheckpoint: string; stepsDone: number; trainableParameters: number };
    expect(result.lastCheckpoint).toMatch(/step-\d{8}\.ckpt$/);
    const cps = await call<{ checkpoints: { step: number }[]; resumable: boolean }>('runs.checkpoints', { runId: run.id });
    expect(cps.resumable).toBe(true);
    expect(cps.checkpoints.at(-1)!.step).toBe(result.stepsDone);

    const { run: next, fromStep } = await call<{ run: Run; fromStep: number }>('runs.resume', { runId: run.id, steps: result.stepsDone + 6 });
    resumedId = next.id;
    expect(fromStep).toBe(result.stepsDone);
    expect(next.training).toMatchObject({ method: 'lora', resumed: true, runDir: out });
    expect((await settled(next.id)).state).toBe('succeeded');
    const { runIds, metrics } = await call<{ runIds: number[]; metrics: { step: number; loss: number }[] }>('runs.timeline', { id: next.id });
    expect(runIds).toEqual([run.id, next.id]);
    expect(metrics.map((m) => m.step)).toEqual(Array.from({ length: result.stepsDone + 6 }, (_, i) => i + 1));
    // The paused run is continued: it is no longer offered for resuming.
    expect(await call('runs.checkpoints', { runId: run.id })).toMatchObject({ resumable: false, reason: `run ${next.id} already continued it` });

    const listed = (await call<{ runs: Run[] }>('runs.list', {})).runs.find((r) => r.id === next.id)!;
    expect(listed.training).toMatchObject({ method: 'lora', trainableParameters: result.trainableParameters, lastStep: result.stepsDone + 6 });
    expect(listed.training!.finalLoss).toBe(metrics.at(-1)!.loss);
    expect(result.trainableParameters).toBe(92_480);
  });

  it('evaluate: held-out loss of the base with the run adapter differs from the base alone', async () => {
    const runDir = (await call<{ run: Run }>('runs.get', { id: resumedId })).run.training!.runDir;
    const base = await call<{ run: Run }>('jobs.start', { spec: { kind: 'evaluate', model: stories260K, datasetId, seqLen: 64 } });
    const tuned = await call<{ run: Run }>('jobs.start', { spec: { kind: 'evaluate', model: stories260K, adapter: join(runDir, 'adapter'), datasetId, seqLen: 64 } });
    const a = (await settled(base.run.id)).result as { meanNll: number; adapter: string | null };
    const b = (await settled(tuned.run.id)).result as { meanNll: number; adapter: string | null };
    expect(a.adapter).toBeNull();
    expect(b.adapter).toBe(join(runDir, 'adapter'));
    expect(b.meanNll).toBeLessThan(a.meanNll); // 11+ steps at lr 1e-2 on these rows
  });

  it('exports.start writes a PEFT adapter and a merged model, both recorded; refuses what cannot be exported', async () => {
    const peft = await call<{ run: Run; out: string }>('exports.start', { runId: resumedId, format: 'peft' });
    expect((await settled(peft.run.id)).state).toBe('succeeded');
    const merged = await call<{ run: Run; out: string }>('exports.start', { runId: resumedId, format: 'merged', dtype: 'f32' });
    const mergedRun = await settled(merged.run.id);
    expect(mergedRun.state, mergedRun.error ?? '').toBe('succeeded');
    const { exports } = await call<{ exports: { runId: number; format: string; path: string; bytes: number; detail: { dtype: string | null; exportRunId: number } }[] }>('exports.list', { runId: resumedId });
    expect(exports.map((e) => [e.format, e.path, e.detail.dtype, e.detail.exportRunId])).toEqual([
      ['merged', merged.out, 'f32', merged.run.id],
      ['peft', peft.out, null, peft.run.id],
    ]);
    expect(exports.every((e) => e.bytes > 0 && e.runId === resumedId)).toBe(true);
    // The merged folder loads and scores as a plain model.
    const score = await call<{ perplexity: number }>('score.text', { model: merged.out, text: 'Lily had 3 red balls.' });
    expect(score.perplexity).toBeGreaterThan(1);
    await expect(call('exports.start', { runId: pausedId, format: 'merged' })).rejects.toThrow(/params\.runId: run \d+ is cancelled/);
    await expect(call('exports.start', { runId: resumedId, format: 'gguf' })).rejects.toThrow(/params\.format/);
  });

  it('exports.start writes a cluster recipe, recorded with its launch command', async () => {
    const recipe = await call<{ run: Run; out: string }>('exports.start', { runId: resumedId, format: 'recipe', gpus: 4, nodes: 1 });
    const recipeRun = await settled(recipe.run.id);
    expect(recipeRun.state, recipeRun.error ?? '').toBe('succeeded');
    expect(recipe.out).toMatch(/run-\d+-recipe-/);
    expect(existsSync(join(recipe.out, 'train.py'))).toBe(true);
    expect(readFileSync(join(recipe.out, 'accelerate', 'fsdp.yaml'), 'utf8')).toMatch(/^num_processes: 4 /m);
    const { exports } = await call<{ exports: { format: string; path: string; detail: { launch: string | null } }[] }>('exports.list', { runId: resumedId });
    expect(exports[0]).toMatchObject({ format: 'recipe', path: recipe.out, detail: { launch: `cd ${recipe.out} && accelerate launch --config_file accelerate/fsdp.yaml train.py` } });
    await expect(call('exports.start', { runId: resumedId, format: 'recipe', fromStep: 1000 })).rejects.toThrow(/params\.fromStep: 1000: the run has \d+ steps; a recipe starts from a checkpoint before the last/);
  });

  it('a run whose trainer died is offered for resuming after an app restart, from its last periodic checkpoint', async () => {
    const out = join(home.dir, 'home', 'runs', 'crashed');
    const { run } = await call<{ run: Run }>('jobs.start', { spec: { ...lora(out, 3000), checkpointEvery: 3 } });
    await new Promise<void>((resolve) => {
      const off = ctx.hub.subscribe((e) => {
        if (e.type === 'run.metric' && e.runId === run.id && e.metric.step >= 7) off(), resolve();
      });
    });
    process.kill(ctx.jobs.pidOf(run.id)!, 'SIGKILL');
    expect((await settled(run.id)).state).toBe('failed');
    // A new app on the same home (what a restart is) finds the run and its checkpoint on disk.
    const again = createAppContext({ home: join(home.dir, 'home'), mode: 'cli', launchTrainer: forkLauncher(trainerEntry()) });
    try {
      const cps = (await dispatch(again.handlers, 1, 'runs.checkpoints', { runId: run.id })) as { ok: true; result: { resumable: boolean; checkpoints: { step: number }[] } };
      expect(cps.result.resumable).toBe(true);
      const step = cps.result.checkpoints.at(-1)!.step;
      expect(step % 3).toBe(0);
      expect(step).toBeGreaterThanOrEqual(6);
      const resumed = (await dispatch(again.handlers, 1, 'runs.resume', { runId: run.id, steps: step + 2 })) as { ok: true; result: { run: Run; fromStep: number } };
      expect(resumed.result.fromStep).toBe(step);
      expect((await again.jobs.settled(resumed.result.run.id)).state).toBe('succeeded');
    } finally {
      again.close();
    }
    await expect(call('runs.resume', { runId: 424242 })).rejects.toThrow(/not_found: no run with id 424242/);
  });

  it('datasets.remove removes a dataset no job uses, and says when there is none', async () => {
    const file = join(home.dir, 'spare.jsonl');
    writeFileSync(file, Array.from({ length: 4 }, (_, i) => JSON.stringify({ instruction: `Spare ${i}?`, input: '', output: 'Yes.' })).join('\n') + '\n');
    const { id } = (await call<{ dataset: { id: number } }>('data.import', { file })).dataset;
    expect(await call('datasets.remove', { id })).toEqual({ removed: true });
    expect((await call<{ datasets: { id: number }[] }>('datasets.list', {})).datasets.map((d) => d.id)).not.toContain(id);
    await expect(call('datasets.remove', { id })).rejects.toThrow(new RegExp(`not_found: no dataset with id ${id}`));
  });

  it('a diverged run fails with its reason and is offered for resuming from the checkpoint before it', async () => {
    const out = join(home.dir, 'home', 'runs', 'diverged');
    const { run } = await call<{ run: Run }>('jobs.start', { spec: { kind: 'train', method: 'zo-sgd', model: stories260K, datasetId, out, steps: 20, lr: 1, seqLen: 64, checkpointEvery: 2 } });
    const ended = await settled(run.id);
    expect(ended.state).toBe('failed');
    const m = /^diverged at step (\d+) \(loss NaN\): lower the learning rate \(now 1\); zeroth-order methods have no gradient clipping$/.exec(ended.error ?? '');
    expect(m, ended.error ?? '').not.toBeNull();
    const cps = await call<{ resumable: boolean; checkpoints: { step: number }[] }>('runs.checkpoints', { runId: run.id });
    expect(cps.resumable).toBe(true);
    expect(cps.checkpoints.at(-1)!.step).toBeLessThan(Number(m![1]) - 1);
  });

  it('jobs.start refuses a training run that will not fit, naming a setting that would', async () => {
    const spec = { ...lora(join(home.dir, 'home', 'runs', 'huge'), 10), method: 'full', seqLen: 512, batchSize: 4096 };
    await expect(call('jobs.start', { spec })).rejects.toThrow(/bad_request: params\.spec: this run \(full with sequences of \d+ tokens × batch 4096\) needs about .* but .* of (RAM|GPU memory.*) is available\. It would fit with batch size \d+/);
    expect((await call<{ runs: Run[] }>('runs.list', {})).runs.some((r) => (r.spec as { out?: string }).out?.endsWith('huge'))).toBe(false);
  });
});
