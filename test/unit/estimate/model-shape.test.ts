// config.json's RoPE and dtype in both layouts (transformers 4: rope_theta / rope_scaling /
// torch_dtype; transformers 5: rope_parameters / dtype), read with the engine's precedence, and
// what the engine does not implement refused by key before any estimate is shown.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dtypeFromConfig, ModelConfigError, modelShapeFromConfig, ropeFromConfig } from '../../../main/estimate/model-shape.js';
import { packageRoot } from '../../../main/paths.js';

const base = { model_type: 'llama', hidden_size: 32, intermediate_size: 56, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 64 };
const savedByTransformers5 = (name: string) => JSON.parse(readFileSync(join(packageRoot(), 'test', 'fixtures', 'engine-config', name, 'config.json'), 'utf8')) as Record<string, unknown>;

describe('RoPE and dtype from config.json', () => {
  it('reads the folders transformers 5 saved', () => {
    const llama3 = savedByTransformers5('llama3_scaling');
    expect(ropeFromConfig(llama3)).toEqual({ type: 'llama3', theta: 500000 });
    expect(dtypeFromConfig(llama3)).toBe('float32');
    expect(ropeFromConfig(savedByTransformers5('qwen2_theta1e6_bias'))).toEqual({ type: 'default', theta: 1e6 });
    expect(modelShapeFromConfig(llama3)).toMatchObject({ hiddenSize: 32, numKvHeads: 2 });
  });

  it('takes rope_parameters\' theta over a top-level one, and the older keys alone', () => {
    expect(ropeFromConfig({ ...base })).toEqual({ type: 'default', theta: 10000 });
    expect(ropeFromConfig({ ...base, rope_theta: 5e5 })).toEqual({ type: 'default', theta: 5e5 });
    expect(ropeFromConfig({ ...base, rope_theta: 1e4, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } })).toEqual({ type: 'default', theta: 1e6 });
    expect(ropeFromConfig({ ...base, rope_theta: 5e5, rope_scaling: { type: 'linear', factor: 2 } })).toEqual({ type: 'linear', theta: 5e5 });
    expect(() => ropeFromConfig({ ...base, rope_parameters: { rope_type: 'linear', rope_theta: 1e4, factor: 2 }, rope_scaling: { rope_type: 'linear', factor: 4 } })).toThrow(
      /rope_parameters and rope_scaling describe different RoPE/,
    );
  });

  it('states the dtype from dtype first, then torch_dtype', () => {
    expect(dtypeFromConfig({ dtype: 'bfloat16', torch_dtype: 'float32' })).toBe('bfloat16');
    expect(dtypeFromConfig({ torch_dtype: 'float16' })).toBe('float16');
    expect(dtypeFromConfig({})).toBeNull();
  });

  it('refuses RoPE types and activations the engine does not implement, naming the key', () => {
    let error: unknown;
    try {
      modelShapeFromConfig({ ...base, rope_parameters: { rope_type: 'yarn', rope_theta: 1e4, factor: 4 } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ModelConfigError);
    expect(error).toMatchObject({ field: 'rope_parameters.rope_type', message: expect.stringContaining('rope_parameters.rope_type "yarn" is not supported') });
    expect(() => modelShapeFromConfig({ ...base, rope_scaling: { type: 'dynamic', factor: 2 } })).toThrow(/rope_scaling\.rope_type "dynamic"/);
    expect(() => modelShapeFromConfig({ ...base, hidden_act: 'gelu_pytorch_tanh' })).toThrow(/hidden_act "gelu_pytorch_tanh"/);
    expect(modelShapeFromConfig({ ...base, hidden_act: 'swish' }).hiddenSize).toBe(32);
  });
});
