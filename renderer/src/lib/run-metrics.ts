// Metrics of a run as the charts need them: built from the database (runs.get) and kept current by
// run.metric events; a step seen twice (event and reload racing) keeps one point.
import type { Run, TrainMethod } from '../../../main/api/contract';

export interface MetricPoint {
  step: number;
  loss?: number | null;
  evalLoss?: number | null;
  lr?: number | null;
  tokensPerS?: number | null;
  memBytes?: number | null;
}

export function mergeMetric(points: MetricPoint[], m: MetricPoint): MetricPoint[] {
  const i = points.findIndex((p) => p.step === m.step);
  if (i >= 0) {
    const merged = { ...points[i]!, ...Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null && v !== undefined)) };
    return points.map((p, j) => (j === i ? merged : p));
  }
  return [...points, m].sort((a, b) => a.step - b.step);
}

export function series(points: MetricPoint[], key: Exclude<keyof MetricPoint, 'step'>): [number, number][] {
  return points.filter((p) => typeof p[key] === 'number').map((p) => [p.step, p[key] as number]);
}

export interface TrainRunResult {
  runDir: string;
  /** The trained model (a Hugging Face folder inside the run folder), or null when cancelled or when an adapter was trained. */
  model: string | null;
  /** The trained LoRA adapter (a PEFT folder inside the run folder): LoRA, QLoRA, zeroth-order over LoRA. */
  adapter: string | null;
  trainableParameters: number;
  lastCheckpoint: string | null;
  stepsDone: number;
  finalLoss: number | null;
  examples: number;
  cancelled: boolean;
}

export type TrainRunSpec = { method: TrainMethod; steps: number; lr: number; model: string; datasetId: number; out: string; seqLen: number; template?: string; zoTarget?: 'all' | 'lora' };

export function trainSpecOf(run: Run): TrainRunSpec | null {
  return run.kind === 'train' ? (run.spec as TrainRunSpec) : null;
}
