// LoRA against PEFT: an adapter PEFT made (test/fixtures/peft, by tools/fixtures/make_peft_fixtures.py
// with PEFT 0.21 / transformers 5.18) loads onto stories260K-hf and gives PEFT's logits; merged into
// the base and exported as a Hugging Face folder it gives PEFT's merge_and_unload logits; our own
// adapter export round-trips. fp32 on both sides: 1e-5 relative is the bound (seen: ~1e-7).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../../../main/engine/native.js';
import { packagePath } from '../../../main/paths.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { readSafetensors, relativeError } from '../../helpers/safetensors.js';
import { tempHome } from '../../helpers/temp-home.js';

const engine = loadEngine();
const tmp = tempHome();
afterAll(() => tmp.cleanup());
const fixture = packagePath('test', 'fixtures', 'peft');

describe.skipIf(!haveAssets)('LoRA parity with PEFT', () => {
  const expected = readSafetensors(join(fixture, 'expected.safetensors'));
  const tokens = expected['tokens']!.data as Int32Array;

  it("loads PEFT's adapter and reproduces PEFT's logits", async () => {
    const model = await engine.loadModel(stories260K);
    await model.loadAdapter(join(fixture, 'adapter'));
    const logits = await model.logits(tokens, 1, tokens.length);
    expect(relativeError(logits, expected['adapted_logits']!.data)).toBeLessThan(1e-5);
    expect(model.trainableParameters()).toBe(23_120); // r=4 on all 7 Linear slots of 5 layers
  });

  it("merges and exports a folder that reproduces PEFT's merge_and_unload logits", async () => {
    const model = await engine.loadModel(stories260K);
    await model.loadAdapter(join(fixture, 'adapter'));
    const out = join(tmp.dir, 'merged');
    await model.saveMerged(stories260K, out, { dtype: 'f32' });
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.torch_dtype).toBe('float32');
    expect(existsSync(join(out, 'tokenizer.json'))).toBe(true);
    const merged = await engine.loadModel(out);
    const logits = await merged.logits(tokens, 1, tokens.length);
    expect(relativeError(logits, expected['merged_logits']!.data)).toBeLessThan(1e-5);
  });

  it('exports bf16 within bf16 rounding of the f32 result', async () => {
    const model = await engine.loadModel(stories260K);
    await model.loadAdapter(join(fixture, 'adapter'));
    const out = join(tmp.dir, 'merged-bf16');
    await model.saveMerged(stories260K, out, { dtype: 'bf16', maxShardBytes: 200_000 });
    expect(existsSync(join(out, 'model.safetensors.index.json')), 'sharded at 200 kB').toBe(true);
    const logits = await (await engine.loadModel(out)).logits(tokens, 1, tokens.length);
    // bf16 keeps 8 significant bits (relative step 2^-8); independent roundings partly cancel.
    expect(relativeError(logits, expected['merged_logits']!.data)).toBeLessThan(1e-2);
  });

  it('saves an adapter in PEFT layout that loads back to the same logits', async () => {
    const model = await engine.loadModel(stories260K);
    await model.attachLora({ targets: ['q', 'v', 'down'], r: 2, alpha: 4, seed: 5 });
    const trainer = new engine.Trainer(model, { lr: 1e-2 });
    await trainer.step([{ tokens, batch: 1, seq: tokens.length }]);
    await trainer.step([{ tokens, batch: 1, seq: tokens.length }]); // B moves off zero
    const before = await model.logits(tokens, 1, tokens.length);
    const dir = join(tmp.dir, 'adapter');
    await model.saveAdapter(dir, 'stories260K-hf');
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 4, task_type: 'CAUSAL_LM', base_model_name_or_path: 'stories260K-hf' });
    expect([...config.target_modules].sort()).toEqual(['down_proj', 'q_proj', 'v_proj']);
    const reloaded = await engine.loadModel(stories260K);
    await reloaded.loadAdapter(dir);
    expect(relativeError(await reloaded.logits(tokens, 1, tokens.length), before)).toBe(0);
    const base = await (await engine.loadModel(stories260K)).logits(tokens, 1, tokens.length);
    expect(relativeError(before, base)).toBeGreaterThan(1e-4); // the adapter did change the model
  });

  it('names the field when an adapter folder is broken', async () => {
    const model = await engine.loadModel(stories260K);
    await expect(model.loadAdapter(join(tmp.dir, 'nowhere'))).rejects.toThrow(/adapter_config\.json/);
  });
});
