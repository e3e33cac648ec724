// A training step diverged when what it measured is no longer a number: its loss, or its gradient
// (the global norm for first-order methods, the projected gradient for zeroth-order ones). From
// there on every weight the optimizer touches is NaN, so the run stops at the first such step and
// says what to change.
import { methodFamily, type TrainSpec } from '../api/contract.js';
import type { StepResult } from '../engine/native.js';

function describe(value: number): string {
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Inf' : '-Inf';
}

/** The user-facing reason the step diverged, or null when every value it reported is finite. */
export function divergence(step: number, result: Pick<StepResult, 'loss' | 'gradNorm' | 'projectedGrad'>, spec: TrainSpec): string | null {
  const zerothOrder = methodFamily(spec.method) === 'zo';
  let what: string | null = null;
  if (!Number.isFinite(result.loss)) what = `loss ${describe(result.loss)}`;
  else if (zerothOrder && result.projectedGrad !== undefined && !Number.isFinite(result.projectedGrad)) what = `projected gradient ${describe(result.projectedGrad)}`;
  else if (!zerothOrder && !Number.isFinite(result.gradNorm)) what = `gradient norm ${describe(result.gradNorm)}`;
  if (what === null) return null;
  const advice = zerothOrder
    ? 'zeroth-order methods have no gradient clipping'
    : spec.maxGradNorm > 0
      ? `gradients are already clipped to a norm of ${spec.maxGradNorm}`
      : 'turn on gradient clipping';
  return `diverged at step ${step} (${what}): lower the learning rate (now ${spec.lr})${spec.maxGradNorm > 0 || zerothOrder ? '; ' : ' or '}${advice}`;
}
