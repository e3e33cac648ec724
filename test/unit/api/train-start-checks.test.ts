// jobs.start checks a training spec against its paths and its model before any process starts, so
// the app and the CLI (which goes through it) refuse the same things with the same words: a rank
// wider than a targeted projection, a run folder that cannot be written, a file given as the model.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiReply } from '../../../main/api/contract.js';
import { dispatch } from '../../../main/api/dispatch.js';
import { createAppContext, type AppContext } from '../../../main/app-context.js';
import { importDataset } from '../../../main/data/import-dataset.js';
import { trainerEntry } from '../../../main/paths.js';
import { forkLauncher } from '../../../main/trainer/launcher.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { tempHome } from '../../helpers/temp-home.js';

describe.skipIf(!haveAssets)('jobs.start refuses a spec that cannot work, before any process starts', () => {
  const home = tempHome();
  let ctx: AppContext;
  let datasetId = 0;
  const notAFolder = join(home.dir, 'not-a-folder');
  const start = (spec: Record<string, unknown>): Promise<ApiReply> =>
    dispatch(ctx.handlers, 1, 'jobs.start', { spec: { kind: 'train', method: 'lora', model: stories260K, datasetId, out: join(home.dir, 'run'), steps: 1, ...spec } });
  const refusal = async (spec: Record<string, unknown>): Promise<string> => {
    const reply = await start(spec);
    expect(reply.ok).toBe(false);
    if (reply.ok) return '';
    expect(reply.error.code).toBe('bad_request');
    return reply.error.message;
  };

  beforeAll(() => {
    ctx = createAppContext({ home: join(home.dir, 'home'), mode: 'cli', launchTrainer: forkLauncher(trainerEntry()) });
    const file = join(home.dir, 'd.jsonl');
    writeFileSync(file, Array.from({ length: 4 }, (_, i) => JSON.stringify({ prompt: `p${i}`, completion: `c${i}` })).join('\n') + '\n');
    datasetId = importDataset(ctx.db, file).dataset.id;
    writeFileSync(notAFolder, 'x');
  });
  afterAll(() => {
    ctx.close();
    home.cleanup();
  });

  it('a LoRA rank wider than k_proj and v_proj (32 under GQA) names them and the largest rank', async () => {
    expect(await refusal({ loraR: 33 })).toBe(
      'params.spec.loraR: LoRA rank 33 is larger than k_proj (32 wide: 64 in, 32 out) and v_proj (32 wide: 64 in, 32 out): choose a rank of at most 32, or leave k, v out of the targets',
    );
    // Targets wide enough take the same rank.
    expect(await refusal({ loraR: 33, loraTargets: ['q', 'o'], out: join(notAFolder, 'run') })).not.toMatch(/loraR/);
  });

  it('a run folder under a file, or a file as the run folder', async () => {
    const under = join(notAFolder, 'run');
    expect(await refusal({ out: under })).toBe(`cannot write to ${under}: ${notAFolder} is a file, not a folder`);
    expect(await refusal({ out: notAFolder })).toBe(`${notAFolder} is a file: choose a folder`);
  });

  it('a file given as the model folder', async () => {
    expect(await refusal({ model: notAFolder })).toBe(`${notAFolder} is a file: choose the folder that holds config.json`);
  });

  it('nothing was recorded for the refused specs', () => {
    expect(ctx.db.prepare('SELECT COUNT(*) AS n FROM runs').get()).toEqual({ n: 0 });
  });
});
