// Messages between the supervisor (main process) and a trainer process. One job per process: the
// parent sends `run` once and maybe `cancel`; the child streams events and ends with exactly one
// `result` or `error`, then exits.
import type { JobSpec } from '../api/contract.js';

export type ToTrainer = { type: 'run'; spec: JobSpec } | { type: 'cancel' };

export type FromTrainer =
  | { type: 'progress'; step: number; total: number; message: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { type: 'result'; result: unknown }
  | { type: 'error'; message: string };
