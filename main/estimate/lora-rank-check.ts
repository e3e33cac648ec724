// A LoRA rank above a targeted projection's smaller side buys nothing (the update B·A cannot have a
// higher rank than min(in, out)) and only costs memory: the spec is refused, naming the projection.
// Pure TypeScript, like the rest of the estimator, so the renderer could show it too.
import { usesAdapter, type TrainSpec } from '../api/contract.js';
import { slotShapes, type LoraSlot } from './memory-estimate.js';
import type { ModelShape } from './model-shape.js';
import { expandLoraTargets } from './spec-estimate.js';

/** Hugging Face's module name of each projection, as the adapter's target_modules lists it. */
const MODULE_NAMES: Record<LoraSlot, string> = { q: 'q_proj', k: 'k_proj', v: 'v_proj', o: 'o_proj', gate: 'gate_proj', up: 'up_proj', down: 'down_proj' };

/** Why the spec's LoRA rank does not fit its targets on this model, or null when it does (or the method has no adapters). */
export function loraRankProblem(spec: Pick<TrainSpec, 'method' | 'zoTarget' | 'loraR' | 'loraTargets'>, shape: ModelShape): string | null {
  if (!usesAdapter(spec)) return null;
  const shapes = slotShapes(shape);
  const tooNarrow = expandLoraTargets(spec.loraTargets)
    .map((slot) => ({ slot, in: shapes[slot][0], out: shapes[slot][1], width: Math.min(...shapes[slot]) }))
    .filter((t) => t.width < spec.loraR)
    .sort((a, b) => a.width - b.width);
  if (tooNarrow.length === 0) return null;
  const named = tooNarrow.map((t) => `${MODULE_NAMES[t.slot]} (${t.width} wide: ${t.in} in, ${t.out} out)`);
  const list = named.length === 1 ? named[0] : `${named.slice(0, -1).join(', ')} and ${named[named.length - 1]}`;
  return `LoRA rank ${spec.loraR} is larger than ${list}: choose a rank of at most ${tooNarrow[0]!.width}, or leave ${tooNarrow.map((t) => t.slot).join(', ')} out of the targets`;
}
