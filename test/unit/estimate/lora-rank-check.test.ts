// A LoRA rank wider than a targeted projection's smaller side is refused, naming the projection,
// its width and the largest rank that fits; stories260K's shape (GQA: k and v are 32 wide).
import { describe, expect, it } from 'vitest';
import { loraRankProblem } from '../../../main/estimate/lora-rank-check.js';
import { modelShapeFromConfig } from '../../../main/estimate/model-shape.js';

// stories260K-hf's config.json: hidden 64, 8 heads of 8, 4 KV heads, intermediate 172.
const shape = modelShapeFromConfig({
  model_type: 'llama',
  hidden_size: 64,
  intermediate_size: 172,
  num_hidden_layers: 5,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  vocab_size: 512,
  tie_word_embeddings: true,
});

const lora = (loraR: number, loraTargets: 'all-linear' | 'attention' | 'qv' | ('q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down')[] = 'all-linear') =>
  ({ method: 'lora', zoTarget: 'all', loraR, loraTargets }) as const;

describe('LoRA rank against the targeted projections', () => {
  it('a rank up to the narrowest target fits', () => {
    expect(loraRankProblem(lora(32), shape)).toBeNull();
    expect(loraRankProblem(lora(64, ['q', 'o', 'gate']), shape)).toBeNull();
  });

  it('a rank over k and v (32 wide under GQA) names both, with their shapes and the largest rank that fits', () => {
    expect(loraRankProblem(lora(33), shape)).toBe(
      'LoRA rank 33 is larger than k_proj (32 wide: 64 in, 32 out) and v_proj (32 wide: 64 in, 32 out): choose a rank of at most 32, or leave k, v out of the targets',
    );
    expect(loraRankProblem(lora(40, 'qv'), shape)).toBe('LoRA rank 40 is larger than v_proj (32 wide: 64 in, 32 out): choose a rank of at most 32, or leave v out of the targets');
  });

  it('lists every projection too narrow, narrowest first (ties in the order given)', () => {
    expect(loraRankProblem(lora(100, ['down', 'k', 'q']), shape)).toBe(
      'LoRA rank 100 is larger than k_proj (32 wide: 64 in, 32 out), down_proj (64 wide: 172 in, 64 out) and q_proj (64 wide: 64 in, 64 out): choose a rank of at most 32, or leave k, down, q out of the targets',
    );
  });

  it('methods without adapters are not checked; zeroth-order over LoRA is', () => {
    expect(loraRankProblem({ method: 'full', zoTarget: 'all', loraR: 4096, loraTargets: 'all-linear' }, shape)).toBeNull();
    expect(loraRankProblem({ method: 'zo-sgd', zoTarget: 'all', loraR: 4096, loraTargets: 'all-linear' }, shape)).toBeNull();
    expect(loraRankProblem({ method: 'zo-sgd', zoTarget: 'lora', loraR: 33, loraTargets: 'all-linear' }, shape)).toMatch(/^LoRA rank 33 is larger than k_proj/);
    expect(loraRankProblem({ method: 'qlora', zoTarget: 'all', loraR: 33, loraTargets: 'all-linear' }, shape)).toMatch(/^LoRA rank 33 is larger than k_proj/);
  });
});
