// The shape of a CLI command and the helpers every command shares.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createAppContext, type AppContext } from '../app-context.js';
import { trainerEntry } from '../paths.js';
import type { JobSpec, Run } from '../api/contract.js';
import { forkLauncher } from '../trainer/launcher.js';
import type { JobListener } from '../trainer/supervisor.js';

import { formatSeconds } from '../common/format.js';

export { formatBytes, formatSeconds } from '../common/format.js';

export interface CliIo {
  home: string;
  out(line: string): void;
  err(line: string): void;
}

export interface CliCommand {
  name: string;
  summary: string;
  /** Full help: the usage line(s) and each option. */
  help: string;
  run(argv: string[], io: CliIo): Promise<number>;
}

/** A mistake in how the command was called: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {}

export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function parseIntOption(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  return n;
}

/** Opens the app's database and trainer supervisor for one command, and closes them after. */
export async function withContext<T>(io: CliIo, fn: (ctx: AppContext) => Promise<T>): Promise<T> {
  const ctx = createAppContext({ home: io.home, mode: 'cli', launchTrainer: forkLauncher(trainerEntry()) });
  try {
    return await fn(ctx);
  } finally {
    ctx.close();
  }
}

/**
 * Runs a job that is not recorded in history (score, generate) in a trainer process; Ctrl+C asks
 * it to stop. Resolves with its result or throws its error.
 */
export async function runEphemeralJob(ctx: AppContext, spec: JobSpec, listener: JobListener = {}): Promise<unknown> {
  const job = ctx.supervisor.start(spec, listener);
  const stop = () => job.cancel();
  process.once('SIGINT', stop);
  try {
    const outcome = await job.done;
    if (outcome.state === 'failed') throw new Error(outcome.error);
    if (outcome.state === 'cancelled') throw new Error('stopped');
    return outcome.result;
  } finally {
    process.off('SIGINT', stop);
  }
}

export function parseNumberOption(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${value}"`);
  return n;
}

/**
 * Waits for a recorded run to end, printing its progress lines (with ETA) and logs unless quiet;
 * Ctrl+C cancels it. `prefix` formats the step counter, e.g. "[3/8] ".
 */
export async function followRun(ctx: AppContext, io: CliIo, runId: number, options: { quiet?: boolean; prefix?: (step: number, total: number) => string } = {}): Promise<Run> {
  const unsubscribe = ctx.hub.subscribe((e) => {
    if (!('runId' in e) || e.runId !== runId) return;
    // Warnings go to stderr even with --json, whose stdout is the result alone.
    if (e.type === 'run.log' && e.level !== 'info') io.err(`${e.level === 'warn' ? 'warning' : 'error'}: ${e.message}`);
    if (options.quiet) return;
    if (e.type === 'run.progress') {
      const eta = e.etaSeconds === null ? '' : `, ETA ${formatSeconds(e.etaSeconds)}`;
      io.out(`${options.prefix?.(e.step, e.total) ?? ''}${e.message}${eta}`);
    } else if (e.type === 'run.log' && e.level === 'info') io.out(e.message);
  });
  const stopOnSignal = () => ctx.jobs.cancel(runId);
  process.once('SIGINT', stopOnSignal);
  try {
    return await ctx.jobs.settled(runId);
  } finally {
    process.off('SIGINT', stopOnSignal);
    unsubscribe();
  }
}

export function parseQuant(value: string | undefined): 'none' | 'nf4' {
  if (value === undefined || value === 'none' || value === 'nf4') return value ?? 'none';
  throw new UsageError(`--quant must be nf4 (or none), got "${value}"`);
}
