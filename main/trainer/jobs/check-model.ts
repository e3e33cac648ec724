// The `check-model` job: everything the engine checks when it loads a model folder (config.json,
// safetensors headers, every tensor's presence, dtype and shape), from the headers alone, so the
// Model step refuses exactly what `score` or training would refuse, in milliseconds for any size.
// Run in the trainer process, the only one that loads the engine.
import type { CheckModelSpec } from '../../api/contract.js';
import { loadEngine, type ModelConfig } from '../../engine/native.js';

export function runCheckModel(spec: CheckModelSpec): Promise<ModelConfig> {
  return loadEngine().checkModel(spec.model);
}
