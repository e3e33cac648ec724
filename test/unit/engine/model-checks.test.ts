// What the engine refuses when it reads a model folder, each refusal naming the key, tensor or file:
// config settings that change the arithmetic and are not implemented, both config layouts
// (transformers 4 and 5) read with one precedence, and weights that are corrupt (NaN/Inf) or whose
// header lies (overlapping or truncated byte ranges, wrong shapes, unknown dtypes), at load and in
// checkModel, which reads headers only.
import { statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../../../main/engine/native.js';
import { haveAssets } from '../../helpers/assets.js';
import { smallGqaConfig, writeRandomModel } from '../../helpers/random-model.js';
import { editSafetensorsHeader, pokeF32 } from '../../helpers/safetensors.js';
import { tempHome } from '../../helpers/temp-home.js';

const engine = loadEngine();
const tmp = tempHome();
afterAll(() => tmp.cleanup());

const { rope_theta: _theta, torch_dtype: _dtype, ...base } = smallGqaConfig;
const configOf = async (extra: Record<string, unknown>) => (await engine.createRandomModel(JSON.stringify({ ...base, ...extra }))).config();
const refusal = (extra: Record<string, unknown>) => engine.createRandomModel(JSON.stringify({ ...base, ...extra }));

describe('config.json in both layouts', () => {
  it('reads RoPE from rope_parameters (transformers 5) and from rope_theta / rope_scaling (older)', async () => {
    expect((await configOf({})).ropeTheta).toBe(10000);
    expect((await configOf({ rope_theta: 500000 })).ropeTheta).toBe(500000);
    expect((await configOf({ rope_parameters: { rope_type: 'default', rope_theta: 1e6 } })).ropeTheta).toBe(1e6);
    // The dictionary's theta wins over a top-level one, as transformers completes it.
    expect((await configOf({ rope_theta: 10000, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } })).ropeTheta).toBe(1e6);
    expect((await configOf({ rope_theta: 250000, rope_parameters: { rope_type: 'default' } })).ropeTheta).toBe(250000);
  });

  it('accepts rope_parameters beside an identical rope_scaling, refuses two that disagree', async () => {
    const llama3 = { rope_type: 'llama3', rope_theta: 5e5, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
    expect((await configOf({ rope_parameters: llama3, rope_scaling: llama3 })).ropeTheta).toBe(5e5);
    await expect(refusal({ rope_parameters: llama3, rope_scaling: { ...llama3, factor: 4 } })).rejects.toThrow(/rope_parameters and rope_scaling describe different RoPE/);
  });

  it('states the dtype from dtype (transformers 5) or torch_dtype, dtype first', async () => {
    expect((await configOf({ dtype: 'bfloat16' })).dtype).toBe('bfloat16');
    expect((await configOf({ torch_dtype: 'float16' })).dtype).toBe('float16');
    expect((await configOf({ dtype: 'bfloat16', torch_dtype: 'float32' })).dtype).toBe('bfloat16');
    expect((await configOf({})).dtype).toBeNull();
  });

  it('refuses RoPE types it does not implement, naming the key and value', async () => {
    for (const type of ['yarn', 'dynamic', 'longrope']) {
      await expect(refusal({ rope_parameters: { rope_type: type, rope_theta: 1e4, factor: 2 } })).rejects.toThrow(`rope_parameters.rope_type '${type}' is not supported`);
      await expect(refusal({ rope_scaling: { type, factor: 2 } })).rejects.toThrow(`rope_scaling.rope_type '${type}' is not supported`);
    }
    await expect(refusal({ rope_parameters: { rope_type: 'linear', rope_theta: 1e4 } })).rejects.toThrow(/rope_parameters lacks 'factor'/);
    await expect(refusal({ rope_parameters: { rope_type: 'default', rope_theta: 1e4, partial_rotary_factor: 0.5 } })).rejects.toThrow(/partial_rotary_factor 0.5 is not supported/);
    await expect(refusal({ rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 1e4 } } })).rejects.toThrow(/rope_parameters\.full_attention: RoPE parameters per layer type/);
  });

  it('refuses activations other than silu, naming the value', async () => {
    await expect(refusal({ hidden_act: 'gelu' })).rejects.toThrow(/hidden_act 'gelu'/);
    await expect(refusal({ hidden_act: 7 })).rejects.toThrow(/hidden_act 7/);
    expect((await configOf({ hidden_act: 'swish' })).hiddenSize).toBe(base.hidden_size); // transformers' ACT2FN: SiLU too
  });

  it('follows transformers on sliding windows: Qwen2 only with use_sliding_window, per layer_types or max_window_layers', async () => {
    const qwen2 = { model_type: 'qwen2', num_hidden_layers: 2, max_position_embeddings: 256 };
    // Off (as transformers 5 saves Qwen2 by default), and ignored by Llama altogether: accepted.
    await expect(configOf({ ...qwen2, use_sliding_window: false, sliding_window: 4, layer_types: ['sliding_attention', 'sliding_attention'] })).resolves.toBeTruthy();
    await expect(configOf({ sliding_window: 4 })).resolves.toBeTruthy();
    // Windowed in every layer: the engine's windowed attention. In some layers only: refused.
    await expect(configOf({ ...qwen2, use_sliding_window: true, sliding_window: 4, max_window_layers: 0 })).resolves.toBeTruthy();
    await expect(refusal({ ...qwen2, use_sliding_window: true, sliding_window: 4, max_window_layers: 1 })).rejects.toThrow(/sliding_window 4 applies to 1 of 2 layers \(max_window_layers 1 is full attention\)/);
    await expect(refusal({ ...qwen2, use_sliding_window: true, sliding_window: 4, layer_types: ['full_attention', 'sliding_attention'] })).rejects.toThrow(/layer_types\[0\] is full attention/);
    // max_window_layers defaults to 28: a 2-layer model has no windowed layer.
    await expect(configOf({ ...qwen2, use_sliding_window: true, sliding_window: 4 })).resolves.toBeTruthy();
    // A window as long as the context never hides a key, so a mix is the same as none.
    await expect(configOf({ ...qwen2, use_sliding_window: true, sliding_window: 256, max_window_layers: 1 })).resolves.toBeTruthy();
    await expect(refusal({ ...qwen2, use_sliding_window: true, sliding_window: 4, layer_types: ['full_attention', 'chunked_attention'] })).rejects.toThrow(/layer_types\[1\] 'chunked_attention' is not supported/);
  });
});

describe.skipIf(!haveAssets)('weights refused at load and by checkModel', () => {
  let n = 0;
  const freshModel = async () => writeRandomModel(join(tmp.dir, `m${n++}`));
  const weights = (dir: string) => join(dir, 'model.safetensors');

  it('accepts a sound folder and reports its config without loading it', async () => {
    const dir = await freshModel();
    expect(await engine.checkModel(dir)).toMatchObject({ hiddenSize: base.hidden_size, numLayers: base.num_hidden_layers });
  });

  it('refuses NaN and infinite weights, naming the tensor and the first bad index', async () => {
    const dir = await freshModel();
    pokeF32(weights(dir), 'model.layers.1.mlp.up_proj.weight', 1234, Number.NaN);
    pokeF32(weights(dir), 'model.layers.1.mlp.up_proj.weight', 2000, Number.NaN);
    await expect(engine.loadModel(dir)).rejects.toThrow(/tensor 'model\.layers\.1\.mlp\.up_proj\.weight' in .*model\.safetensors holds NaN at index 1234/);
    const inf = await freshModel();
    pokeF32(weights(inf), 'model.norm.weight', 0, Number.NEGATIVE_INFINITY);
    await expect(engine.loadModel(inf)).rejects.toThrow(/'model\.norm\.weight' .* holds -inf at index 0/);
  });

  it('refuses tensors whose byte ranges overlap, naming both', async () => {
    const dir = await freshModel();
    editSafetensorsHeader(weights(dir), (h) => {
      h['model.layers.0.post_attention_layernorm.weight']!.data_offsets = h['model.layers.0.input_layernorm.weight']!.data_offsets;
    });
    const overlap = /the data of tensors 'model\.layers\.0\.(input|post_attention)_layernorm\.weight' \[\d+, \d+\] and 'model\.layers\.0\.(input|post_attention)_layernorm\.weight' \[\d+, \d+\] overlap/;
    await expect(engine.loadModel(dir)).rejects.toThrow(overlap);
    await expect(engine.checkModel(dir)).rejects.toThrow(overlap);
  });

  it('checkModel refuses what loading refuses: truncated data, wrong shapes, unknown dtypes', async () => {
    const truncated = await freshModel();
    truncateSync(weights(truncated), statSync(weights(truncated)).size - 100);
    await expect(engine.checkModel(truncated)).rejects.toThrow(/lie outside the file .*truncated file\?/);

    const reshaped = await freshModel();
    editSafetensorsHeader(weights(reshaped), (h) => {
      h['model.norm.weight']!.shape = [2, base.hidden_size / 2];
    });
    await expect(engine.checkModel(reshaped)).rejects.toThrow(/shape mismatch for tensor 'model\.norm\.weight' .*expected \[48\], found \[2, 24\]/);

    const oddDtype = await freshModel();
    editSafetensorsHeader(weights(oddDtype), (h) => {
      h['model.norm.weight']!.dtype = 'F8_E9M9';
    });
    await expect(engine.checkModel(oddDtype)).rejects.toThrow(/unsupported dtype 'F8_E9M9' for tensor 'model\.norm\.weight'/);

    const intDtype = await freshModel();
    editSafetensorsHeader(weights(intDtype), (h) => {
      h['model.norm.weight']!.dtype = 'I32';
    });
    await expect(engine.checkModel(intDtype)).rejects.toThrow(/unsupported dtype 'I32' for tensor 'model\.norm\.weight'.*supported: F32, F16, BF16/);
  });
});
