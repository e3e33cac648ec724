// What resuming a run folder means: its own spec (run.json), continued from the newest complete
// checkpoint whose file is intact (a damaged newer one is passed over), optionally to a new total of steps. Shared by `tunesmith train --resume` and the
// API's runs.resume, so both resume exactly the same way.
import type { TrainSpec } from '../api/contract.js';
import { newestIntactCheckpoint } from './checkpoint-integrity.js';
import { checkpointPath, readRunSpec, runFolder } from './run-folder.js';

export class NothingToResumeError extends Error {}

export async function resumeSpec(runDir: string, steps?: number): Promise<{ spec: TrainSpec; fromStep: number }> {
  const folder = runFolder(runDir);
  const spec = readRunSpec(folder);
  const { intact: last, damaged } = await newestIntactCheckpoint(folder);
  if (!last && damaged.length > 0) {
    const which = damaged.map((d) => `step ${d.step} (${d.reason})`).join(', ');
    throw new NothingToResumeError(`no checkpoint in ${folder.checkpoints} is intact: ${which}; start the run again in a new folder`);
  }
  if (!last) throw new NothingToResumeError(`${folder.checkpoints} holds no complete checkpoint to resume from`);
  const total = steps ?? spec.steps;
  if (total <= last.step) {
    throw new NothingToResumeError(`the newest intact checkpoint is at step ${last.step} and the run has ${total} steps: ask for more steps to train longer`);
  }
  return { spec: { ...spec, steps: total, resumeFrom: checkpointPath(folder, last.step) }, fromStep: last.step };
}

/** The step a checkpoint file holds, from its name (step-00000042.ckpt). */
export function checkpointStep(file: string): number | null {
  const m = /step-(\d+)\.ckpt$/.exec(file);
  return m ? Number(m[1]) : null;
}
