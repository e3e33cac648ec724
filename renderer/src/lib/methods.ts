// The fine-tuning methods as the Method step presents them: when to pick each, the defaults it
// starts from, and whether the engine can run it today.
import type { TrainMethod } from '../../../main/estimate/memory-estimate';

export interface MethodInfo {
  id: TrainMethod;
  name: string;
  /** One plain sentence: when to pick it. */
  when: string;
  defaults: { lr: number; rank?: number; lisaLayers?: number; note: string };
  /** The engine trains with it today; the others cannot be started. */
  available: boolean;
}

/** The engine's method name a card starts (zeroth-order starts MeZO's ZO-SGD). */
export function engineMethod(id: TrainMethod): 'full' | 'lisa' | 'zo-sgd' | null {
  return id === 'full' ? 'full' : id === 'lisa' ? 'lisa' : id === 'zo' ? 'zo-sgd' : null;
}

export const methodInfos: MethodInfo[] = [
  {
    id: 'lisa',
    name: 'LISA',
    when: 'Pick it for near full fine-tuning quality on a large model with LoRA-like memory: a few randomly chosen layers train at a time.',
    defaults: { lr: 1e-5, lisaLayers: 2, note: 'γ = 2 layers, resampled every 20 steps, lr 1e-5' },
    available: true,
  },
  {
    id: 'qlora',
    name: 'QLoRA',
    when: 'Pick it when the model barely fits: base weights are stored in 4 bits and only small adapters train.',
    defaults: { lr: 2e-4, rank: 16, note: 'rank 16, α 32, lr 2e-4, NF4 weights' },
    available: false,
  },
  {
    id: 'lora',
    name: 'LoRA',
    when: 'Pick it for most instruction tuning: small adapters on every projection train fast and leave the base model untouched.',
    defaults: { lr: 2e-4, rank: 16, note: 'rank 16, α 32, lr 2e-4, all seven projections' },
    available: false,
  },
  {
    id: 'full',
    name: 'Full fine-tuning',
    when: 'Pick it for small models, or when every weight should move: the best quality and the most memory.',
    defaults: { lr: 1e-4, note: 'AdamW, lr 1e-4, cosine schedule, clip 1.0' },
    available: true,
  },
  {
    id: 'zo',
    name: 'Zeroth-order (MeZO)',
    when: 'Pick it when even QLoRA does not fit: it learns from forward passes only, at inference memory, but needs many more steps.',
    defaults: { lr: 1e-6, note: 'ZO-SGD, lr 1e-6, perturbation ε 1e-3, one direction per step' },
    available: true,
  },
];
