// The divergence check on step results: which value is named, and advice that fits the method.
import { describe, expect, it } from 'vitest';
import { TrainSpecSchema } from '../../../main/api/contract.js';
import { divergence } from '../../../main/train/divergence.js';

const spec = (over: Record<string, unknown>) => TrainSpecSchema.parse({ kind: 'train', model: '/m', datasetId: 1, out: '/o', steps: 10, ...over });

describe('divergence', () => {
  it('finite steps pass, whatever their size', () => {
    expect(divergence(3, { loss: 1e30, gradNorm: 1e30 }, spec({ lr: 1 }))).toBeNull();
    expect(divergence(3, { loss: 2, gradNorm: 0, projectedGrad: -1e20 }, spec({ method: 'zo-sgd' }))).toBeNull();
  });

  it('first-order: names the loss first, then the gradient norm; advice depends on clipping', () => {
    expect(divergence(7, { loss: NaN, gradNorm: Infinity }, spec({ lr: 0.5, maxGradNorm: 0 }))).toBe('diverged at step 7 (loss NaN): lower the learning rate (now 0.5) or turn on gradient clipping');
    expect(divergence(7, { loss: 3, gradNorm: Infinity }, spec({ lr: 0.5, maxGradNorm: 0 }))).toBe('diverged at step 7 (gradient norm Inf): lower the learning rate (now 0.5) or turn on gradient clipping');
    expect(divergence(2, { loss: -Infinity, gradNorm: 1 }, spec({ lr: 1e-7, maxGradNorm: 1, method: 'lisa' }))).toBe('diverged at step 2 (loss -Inf): lower the learning rate (now 1e-7); gradients are already clipped to a norm of 1');
  });

  it('zeroth-order: the projected gradient counts, the (unreported) gradient norm does not; no clipping advice', () => {
    expect(divergence(4, { loss: 2, gradNorm: NaN, projectedGrad: Infinity }, spec({ method: 'zo-adam', lr: 1 }))).toBe('diverged at step 4 (projected gradient Inf): lower the learning rate (now 1); zeroth-order methods have no gradient clipping');
    expect(divergence(4, { loss: 2, gradNorm: NaN, projectedGrad: 1 }, spec({ method: 'zo-sgd' }))).toBeNull();
  });
});
