// Messages between the supervisor (main process) and a trainer process. One job per process: the
// parent sends `run` once and maybe `cancel`; the child streams events and ends with exactly one
// `result` or `error`, then exits.
import type { JobSpec } from '../api/contract.js';

/** One optimizer step's numbers, as training reports them. */
export interface TrainMetric {
  step: number;
  loss: number;
  lr: number;
  tokensPerS: number;
  memBytes: number;
  gradNorm: number;
}

/** databasePath: the app's database, for jobs that read stored data (opened read-only). */
export type ToTrainer = { type: 'run'; spec: JobSpec; databasePath: string | null } | { type: 'cancel' };

export type FromTrainer =
  | { type: 'progress'; step: number; total: number; message: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { type: 'metric'; metric: TrainMetric }
  | { type: 'text'; text: string }
  | { type: 'result'; result: unknown }
  | { type: 'error'; message: string };
