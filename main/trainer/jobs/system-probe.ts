// The `system` job: what the engine in this process sees (backends compiled in, CUDA driver and
// devices or why there are none). Run in the trainer process so a driver problem cannot take the
// app down.
import type { EngineInfo } from '../../api/contract.js';
import { loadEngine } from '../../engine/native.js';

export function runSystemProbe(): EngineInfo {
  return loadEngine().engineInfo();
}
