// What a job running inside the trainer process can do: report progress and logs, and learn that it
// has been asked to stop.
import type { TrainMetric } from '../protocol.js';

export interface JobContext {
  progress(step: number, total: number, message: string): void;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** One training step's numbers (written to the database by the main process). */
  metric(metric: TrainMetric): void;
  /** Generated text as it is produced. */
  text(chunk: string): void;
  /** Registers what to do when the supervisor asks the job to stop. */
  onCancel(handler: () => void): void;
}
