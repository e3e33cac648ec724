// What a job running inside the trainer process can do: report progress and logs, and learn that it
// has been asked to stop.
export interface JobContext {
  progress(step: number, total: number, message: string): void;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** Registers what to do when the supervisor asks the job to stop. */
  onCancel(handler: () => void): void;
}
