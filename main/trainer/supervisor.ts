// Runs each job in its own trainer process and turns whatever happens to that process into one of
// three outcomes. The app never dies with a job: a crash, a signal or an exit without a result
// becomes a failed job with a message that says what happened.
import type { JobSpec } from '../api/contract.js';
import type { LaunchTrainer, TrainerChild } from './launcher.js';
import type { FromTrainer, TrainMetric } from './protocol.js';

export type JobOutcome =
  | { state: 'succeeded'; result: unknown }
  | { state: 'failed'; error: string }
  /** A job that stopped on request; `result` is what it reported while stopping (a training run's checkpoint), if anything. */
  | { state: 'cancelled'; result?: unknown };

export interface JobListener {
  progress?(step: number, total: number, message: string): void;
  log?(level: 'info' | 'warn' | 'error', message: string): void;
  metric?(metric: TrainMetric): void;
  text?(chunk: string): void;
}

export interface RunningJob {
  readonly pid: number | undefined;
  readonly done: Promise<JobOutcome>;
  /** Asks the job to stop; it is killed if it has not ended after the grace period (default the supervisor's). */
  cancel(graceMs?: number): void;
}

export class Supervisor {
  private readonly live = new Set<TrainerChild>();

  constructor(
    private readonly launch: LaunchTrainer,
    private readonly options: { cancelGraceMs?: number; databasePath?: string } = {},
  ) {}

  start(spec: JobSpec, listener: JobListener = {}): RunningJob {
    const child = this.launch();
    this.live.add(child);
    let reported: FromTrainer | undefined; // the child's own final word: result or error
    let cancelRequested = false;
    let killTimer: NodeJS.Timeout | undefined;

    const done = new Promise<JobOutcome>((resolve) => {
      child.onMessage((m) => {
        if (m.type === 'progress') listener.progress?.(m.step, m.total, m.message);
        else if (m.type === 'log') listener.log?.(m.level, m.message);
        else if (m.type === 'metric') listener.metric?.(m.metric);
        else if (m.type === 'text') listener.text?.(m.text);
        else reported ??= m;
      });
      child.onExit((code, signal) => {
        this.live.delete(child);
        if (killTimer) clearTimeout(killTimer);
        resolve(outcome(spec, reported, cancelRequested, code, signal));
      });
    });

    child.send({ type: 'run', spec, databasePath: this.options.databasePath ?? null });
    return {
      pid: child.pid,
      done,
      cancel: (graceMs?: number) => {
        if (cancelRequested) return;
        cancelRequested = true;
        child.send({ type: 'cancel' });
        killTimer = setTimeout(() => child.kill(), graceMs ?? this.options.cancelGraceMs ?? 5000);
      },
    };
  }

  /** Kills every trainer process (app shutdown). */
  killAll(): void {
    for (const child of this.live) child.kill();
  }
}

function outcome(
  spec: JobSpec,
  reported: FromTrainer | undefined,
  cancelRequested: boolean,
  code: number | null,
  signal: string | null,
): JobOutcome {
  if (cancelRequested) {
    return reported?.type === 'result' && !isCancelledResult(reported.result)
      ? { state: 'succeeded', result: reported.result } // it finished before the cancel reached it
      : reported?.type === 'result'
        ? { state: 'cancelled', result: reported.result }
        : { state: 'cancelled' };
  }
  if (reported?.type === 'result' && code === 0) return { state: 'succeeded', result: reported.result };
  if (reported?.type === 'error') return { state: 'failed', error: reported.message };
  const how = signal ? `was killed by signal ${signal}` : `exited with code ${code ?? 'unknown'}`;
  return {
    state: 'failed',
    error: `the trainer process running this ${spec.kind} job ${how} before it finished (a crash in the engine or the system ran out of memory); the app is fine and the job can be started again`,
  };
}

function isCancelledResult(result: unknown): boolean {
  return typeof result === 'object' && result !== null && (result as { cancelled?: unknown }).cancelled === true;
}
