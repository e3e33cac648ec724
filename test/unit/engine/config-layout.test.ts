// The engine on model folders saved by transformers 5 (RoPE under `rope_parameters`, `dtype` instead
// of `torch_dtype`, Qwen2's `layer_types`): logits equal transformers' own forward pass. Fixtures and
// the script that made them: test/fixtures/engine-config, tools/fixtures/make_config_layout_fixtures.py.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadEngine } from '../../../main/engine/native.js';
import { packageRoot } from '../../../main/paths.js';
import { relativeError } from '../../helpers/safetensors.js';

const engine = loadEngine();
const fixtures = join(packageRoot(), 'test', 'fixtures', 'engine-config');

interface Expected {
  tokens: number[];
  vocab_size: number;
  logits: number[];
}

// The reference is float64 on the same float32 weights; the engine computes in float32, so the
// logits agree to float32 rounding accumulated over a 2-layer, 32-wide model: the existing engine
// fixtures hold 1e-5 relative error on logits. A wrong theta, scaling or window moves them by
// 1e-1 or more, so the bound separates right from wrong by four orders of magnitude.
const LOGIT_TOLERANCE = 1e-5;

describe('models saved by transformers 5', () => {
  for (const name of ['qwen2_theta1e6_bias', 'llama3_scaling', 'mistral_window4', 'qwen2_all_sliding']) {
    it(`${name}: logits match transformers`, async () => {
      const dir = join(fixtures, name);
      const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Expected;
      const model = await engine.loadModel(dir);
      const logits = await model.logits(Int32Array.from(expected.tokens), 1, expected.tokens.length);
      expect(logits).toHaveLength(expected.tokens.length * expected.vocab_size);
      expect(relativeError(logits, expected.logits)).toBeLessThan(LOGIT_TOLERANCE);
    });
  }
});
