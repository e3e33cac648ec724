// The engine on model folders saved by transformers 5 (RoPE under `rope_parameters`, `dtype` instead
// of `torch_dtype`, Qwen2's `layer_types`): logits equal transformers' own forward pass. Fixtures and
// the script that made them: test/fixtures/engine-config, tools/fixtures/make_config_layout_fixtures.py.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEngine } from '../../../main/engine/native.js';
import { packageRoot } from '../../../main/paths.js';
import { relativeError } from '../../helpers/safetensors.js';
import { tempHome } from '../../helpers/temp-home.js';

const engine = loadEngine();
const fixtures = join(packageRoot(), 'test', 'fixtures', 'engine-config');
const tmp = tempHome();
afterAll(() => tmp.cleanup());

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

  it('a merged export rewrites the dtype key the base states (dtype here), leaving none stale', async () => {
    const base = join(fixtures, 'llama3_scaling');
    const model = await engine.loadModel(base);
    await model.attachLora({ targets: 'all-linear', r: 2, alpha: 2 });
    const out = join(tmp.dir, 'merged');
    await model.saveMerged(base, out, { dtype: 'bf16' });
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ dtype: 'bfloat16', rope_parameters: { rope_type: 'llama3' } });
    expect(config['torch_dtype']).toBeUndefined(); // as transformers 5 itself saves it
    expect((await engine.checkModel(out)).dtype).toBe('bfloat16');
  });
});
