// A freshly generated random Llama-family model folder: config.json, random safetensors from the
// engine, and the stories260K tokenizer files (vocabulary 512), so the CLI can load it like any
// downloaded model.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEngine } from '../../main/engine/native.js';
import { stories260K } from './assets.js';

export const smallGqaConfig = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 48,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  vocab_size: 512,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
  torch_dtype: 'float32',
};

export async function writeRandomModel(dir: string, config: Record<string, unknown> = smallGqaConfig, seed = 1): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify(config, null, 2);
  writeFileSync(join(dir, 'config.json'), text);
  const model = await loadEngine().createRandomModel(text, { seed, initStd: 0.05 });
  await model.save(join(dir, 'model.safetensors'));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(stories260K, f), join(dir, f));
  return dir;
}
