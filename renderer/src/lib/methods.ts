// The fine-tuning methods as the Method step presents them: when to pick each (one plain sentence),
// the recommended defaults it starts from, and the engine method a card starts.
import type { TrainMethod as EngineMethod } from '../../../main/api/contract';
import type { TrainMethod } from '../../../main/estimate/memory-estimate';

export interface MethodDefaults {
  lr: number;
  /** What the defaults are, in words, on the card. */
  note: string;
}

export interface MethodInfo {
  id: TrainMethod;
  name: string;
  /** One plain sentence: when to pick it. */
  when: string;
  defaults: MethodDefaults;
}

export const ZO_VARIANTS: { id: Extract<EngineMethod, `zo-${string}` | 'forward-grad'>; name: string; note: string }[] = [
  { id: 'zo-sgd', name: 'ZO-SGD (MeZO)', note: 'two forward passes per direction; the standard choice' },
  { id: 'zo-sgd-sign', name: 'ZO-SGD-Sign', note: 'steps by the sign of the estimate: robust to its scale' },
  { id: 'zo-sgd-mmt', name: 'ZO-SGD with momentum', note: 'smooths noisy estimates; one extra buffer' },
  { id: 'zo-sgd-cons', name: 'ZO-SGD-Cons', note: 'keeps a step only if it lowers the loss; five passes' },
  { id: 'zo-adam', name: 'ZO-Adam', note: 'Adam on the estimate; two extra buffers' },
  { id: 'forward-grad', name: 'Forward gradient', note: 'exact directional derivative; all weights only' },
];

export const methodInfos: MethodInfo[] = [
  {
    id: 'lora',
    name: 'LoRA',
    when: 'Pick it for most instruction tuning: small adapters on every projection train fast and leave the base model untouched.',
    defaults: { lr: 2e-4, note: 'r 16, α 32, all linear layers, dropout 0.05, lr 2e-4' },
  },
  {
    id: 'qlora',
    name: 'QLoRA',
    when: 'Pick it when the model barely fits: the base is stored in 4 bits (NF4) and only small adapters train.',
    defaults: { lr: 2e-4, note: 'LoRA r 16, α 32 on an NF4 base, lr 2e-4' },
  },
  {
    id: 'lisa',
    name: 'LISA',
    when: 'Pick it for near full fine-tuning quality with less memory: a few randomly chosen layers train at a time.',
    defaults: { lr: 5e-5, note: 'γ 2 layers, re-sampled every 20 steps, lr 1e-5…1e-4' },
  },
  {
    id: 'full',
    name: 'Full fine-tuning',
    when: 'Pick it for small models, or when every weight should move: the best quality and the most memory.',
    defaults: { lr: 5e-5, note: 'AdamW, lr 1e-5…1e-4, cosine schedule, clip 1.0' },
  },
  {
    id: 'zo',
    name: 'Zeroth-order',
    when: 'Pick it when nothing else fits: it learns from forward passes only, at inference memory, but needs many more steps.',
    defaults: { lr: 1e-6, note: 'ZO-SGD, lr 1e-6 (1e-4 over LoRA), ε 1e-3' },
  },
];

/** The recommended learning rate of zeroth-order training: tiny on all weights, larger on adapters. */
export function zoLearningRate(target: 'all' | 'lora'): number {
  return target === 'lora' ? 1e-4 : 1e-6;
}

/** The engine's method for a card: zeroth-order starts the chosen variant. */
export function engineMethod(id: TrainMethod, zoVariant: EngineMethod): EngineMethod {
  return id === 'zo' ? zoVariant : id;
}

/** Default run folder: <home>/runs/<timestamp>-<method>. */
export function defaultRunFolderName(method: EngineMethod, now = new Date()): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return `${stamp}-${method}`;
}
