// The engine's model API through the Node binding: load, score, generate (streaming, cancel), train,
// save, and errors that arrive as exceptions with the file named, never as crashes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../../../main/engine/native.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { smallGqaConfig, writeRandomModel } from '../../helpers/random-model.js';
import { relativeError } from '../../helpers/safetensors.js';
import { tempHome } from '../../helpers/temp-home.js';

const engine = loadEngine();
const tmp = tempHome();
afterAll(() => tmp.cleanup());

// "Once upon a time" as the stories260K tokenizer gives it, BOS first.
const ONCE = [1, 403, 407, 261, 378];

describe.skipIf(!haveAssets)('model binding on stories260K-hf', () => {
  it('loads the config and parameter count', async () => {
    const model = await engine.loadModel(stories260K);
    expect(model.numParameters()).toBe(260_032);
    expect(model.config()).toMatchObject({ hiddenSize: 64, numLayers: 5, numHeads: 8, numKvHeads: 4, vocabSize: 512, tieWordEmbeddings: true, bosTokenId: 1, eosTokenIds: [2] });
  });

  it('scores log-probabilities that are valid and consistent with generation', async () => {
    const model = await engine.loadModel(stories260K);
    const lp = await model.score(Int32Array.from(ONCE), 1, ONCE.length);
    expect(lp).toHaveLength(ONCE.length - 1);
    for (const v of lp) expect(v).toBeLessThan(0);
    // Two identical rows in one batch score identically; against a batch of one, the gemm blocks
    // differently (a different summation order), so agreement is to fp32 rounding.
    const two = await model.score(Int32Array.from([...ONCE, ...ONCE]), 2, ONCE.length);
    expect(Array.from(two.slice(0, 4))).toEqual(Array.from(two.slice(4)));
    expect(relativeError(two.slice(0, 4), lp)).toBeLessThan(1e-6);
  });

  it('streams greedy tokens and can be cancelled from the callback', async () => {
    const model = await engine.loadModel(stories260K);
    const streamed: number[] = [];
    const all = await model.generate(Int32Array.from(ONCE), { maxNewTokens: 12 }, (id) => streamed.push(id)).promise;
    expect(Array.from(all)).toEqual(streamed);
    expect(all).toHaveLength(12);
    let handle: ReturnType<typeof model.generate>;
    const seen: number[] = [];
    handle = model.generate(Int32Array.from(ONCE), { maxNewTokens: 200 }, (id) => {
      seen.push(id);
      if (seen.length === 3) handle.cancel();
    });
    const partial = await handle.promise;
    expect(partial.length).toBeLessThan(200);
    expect(Array.from(partial.slice(0, 3))).toEqual(Array.from(all.slice(0, 3)));
  });

  it('refuses a second call while one is running', async () => {
    const model = await engine.loadModel(stories260K);
    // A long generation holds the model for many milliseconds: the second call lands during it.
    const first = model.generate(Int32Array.from(ONCE), { maxNewTokens: 400, stopIds: [] }, () => {});
    expect(() => model.score(Int32Array.from(ONCE), 1, ONCE.length)).toThrow(/busy/);
    first.cancel();
    await first.promise;
    await expect(model.score(Int32Array.from(ONCE), 1, ONCE.length)).resolves.toHaveLength(4); // free again
  });

  it('trains: loss falls over a few AdamW steps on one batch', async () => {
    const model = await engine.loadModel(stories260K);
    const trainer = new engine.Trainer(model, { lr: 2e-3, maxGradNorm: 1 });
    const tokens = Int32Array.from([...ONCE, 432, 383, 286, 261]);
    const losses: number[] = [];
    for (let i = 0; i < 6; i++) losses.push((await trainer.step([{ tokens, batch: 1, seq: tokens.length }])).loss);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.8);
    const mem = engine.memoryStats();
    expect(mem.peakBytes).toBeGreaterThanOrEqual(mem.liveBytes);
  });
});

describe('model binding errors', () => {
  it('names the missing file', async () => {
    await expect(engine.loadModel(join(tmp.dir, 'nowhere'))).rejects.toThrow(/nowhere[\\/]config\.json/);
  });

  it('names a tensor with the wrong shape', async () => {
    const dir = join(tmp.dir, 'bad-shape');
    await writeRandomModel(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...smallGqaConfig, hidden_size: 60, num_attention_heads: 6 }));
    await expect(engine.loadModel(dir)).rejects.toThrow(/model\.safetensors.*(expected|shape)/s);
  });

  it('rejects unsupported architectures by name', async () => {
    const dir = join(tmp.dir, 'gpt2');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_embd: 64 }));
    await expect(engine.loadModel(dir)).rejects.toThrow(/gpt2/);
  });

  it('checks argument types', async () => {
    const model = await engine.createRandomModel(JSON.stringify(smallGqaConfig), { seed: 3 });
    expect(() => model.score([1, 2] as unknown as Int32Array, 1, 2)).toThrow(/Int32Array/);
    expect(() => new engine.Trainer(model, { optimizer: 'lion' as 'sgd' })).toThrow(/optimizer must be "adamw" or "sgd"/);
    expect(() => (engine.Trainer as unknown as new (...a: unknown[]) => unknown)(model)).toThrow();
  });
});
