// The memory a training run is measured against: the first GPU's memory when the engine sees one,
// else the machine's RAM (the CPU engine trains there). One rule for the Method step, jobs.start
// and `tunesmith estimate`.
import type { SystemInfo } from '../api/contract.js';

export interface TrainingBudget {
  bytes: number;
  /** What the bytes are, in words: "GPU memory (NVIDIA H100)", "RAM". */
  label: string;
}

export function trainingBudget(info: Pick<SystemInfo, 'engine' | 'host'>): TrainingBudget {
  const gpu = info.engine.cuda.devices[0];
  return gpu ? { bytes: gpu.totalMemory, label: `GPU memory (${gpu.name})` } : { bytes: info.host.totalMemory, label: 'RAM' };
}
