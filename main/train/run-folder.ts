// A training run's folder: run.json (the spec it was started with), checkpoints/ (engine checkpoint
// files, each with a small JSON sidecar saying which step it holds and how far into the data it
// was), and model/ (the trained model) or adapter/ (a trained LoRA adapter), written at the end. Every file is written atomically
// (temporary name, fsync, rename, fsync of the folder), so a crash leaves either the old file or the new one.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { TrainSpec } from '../api/contract.js';

export interface RunFolder {
  dir: string;
  runJson: string;
  checkpoints: string;
  /** Full-weight methods: the trained model as a Hugging Face folder. */
  model: string;
  /** Adapter methods (LoRA, QLoRA, ZO over LoRA): the trained adapter as a PEFT folder. */
  adapter: string;
}

export function runFolder(dir: string): RunFolder {
  const d = resolve(dir);
  return { dir: d, runJson: join(d, 'run.json'), checkpoints: join(d, 'checkpoints'), model: join(d, 'model'), adapter: join(d, 'adapter') };
}

export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(value, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncFolder(dirname(file));
}

/** Makes a rename into `dir` durable. Windows cannot open a folder to flush it; its renames are the OS's to keep. */
export function fsyncFolder(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * run.json format 2: paths inside the run folder are stored relative to it ("." for the folder
 * itself), so a copied folder resumes into the copy and a moved one still resumes; paths outside it
 * (the base model) stay absolute. Format 1 stored every path absolute.
 */
const RUN_JSON_FORMAT = 2;
/** The spec's fields that hold paths. */
const PATH_FIELDS = ['out', 'model', 'resumeFrom'] as const;

/** `path` relative to `dir` when it lies inside it, else unchanged (absolute). */
function relativeInside(dir: string, path: string): string {
  const rel = relative(dir, resolve(path));
  return rel === '' ? '.' : rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? resolve(path) : rel;
}

/** A new run needs an empty folder: one run never overwrites another. */
export function prepareNewRunFolder(folder: RunFolder, spec: TrainSpec): void {
  if (existsSync(folder.dir) && readdirSync(folder.dir).length > 0) {
    throw new Error(`the run folder ${folder.dir} already exists and is not empty: choose a new folder, or resume it with --resume`);
  }
  mkdirSync(folder.checkpoints, { recursive: true });
  const stored: Record<string, unknown> = { ...spec, resumeFrom: undefined };
  for (const field of PATH_FIELDS) {
    const path = stored[field];
    if (typeof path === 'string') stored[field] = relativeInside(folder.dir, path);
  }
  writeJsonAtomic(folder.runJson, { format: RUN_JSON_FORMAT, spec: stored });
}

/** The run's spec, with its paths resolved against the folder run.json is in now (wherever it was written). */
export function readRunSpec(folder: RunFolder): TrainSpec {
  if (!existsSync(folder.runJson)) throw new Error(`${folder.runJson} not found: is ${folder.dir} a Tunesmith run folder?`);
  let parsed: { format?: unknown; spec?: Record<string, unknown> };
  try {
    parsed = JSON.parse(readFileSync(folder.runJson, 'utf8')) as typeof parsed;
  } catch (err) {
    throw new Error(`${folder.runJson}: not valid JSON (${(err as Error).message})`);
  }
  const spec = parsed.spec;
  if (typeof spec !== 'object' || spec === null || typeof spec.out !== 'string') throw new Error(`${folder.runJson}: expected a "spec" object with the run's "out" folder`);
  if (parsed.format !== 1 && parsed.format !== RUN_JSON_FORMAT) throw new Error(`${folder.runJson}: format ${String(parsed.format)} is not one this Tunesmith reads (1 or ${RUN_JSON_FORMAT})`);
  // Format 1 paths are absolute, inside the folder where the run was started: rebase those onto this one.
  const writtenIn = parsed.format === 1 ? resolve(spec.out) : folder.dir;
  const resolved: Record<string, unknown> = { ...spec };
  for (const field of PATH_FIELDS) {
    const path = spec[field];
    if (typeof path === 'string') resolved[field] = resolve(folder.dir, relativeInside(writtenIn, resolve(writtenIn, path)));
  }
  return resolved as unknown as TrainSpec;
}

export interface CheckpointMark {
  /** Optimizer steps done. */
  step: number;
  /** Examples consumed from the data order (it is replayed up to here on resume). */
  examples: number;
  datasetId: number;
  trainExamples: number;
  /** The dataset's training data hash (trainingDataHash) when the checkpoint was written; absent in older checkpoints. */
  datasetHash?: string;
  /** SHA-256 (hex) and size of the checkpoint file, checked before it is resumed from; absent: loaded unchecked. */
  sha256?: string;
  bytes?: number;
}

export function checkpointPath(folder: RunFolder, step: number): string {
  return join(folder.checkpoints, `step-${String(step).padStart(8, '0')}.ckpt`);
}

/**
 * Records that the checkpoint file for `mark.step` is complete: the sidecar is what makes a checkpoint
 * count, so it is written only after the engine's file and its folder are on disk (the engine
 * fsyncs both before its save resolves).
 */
export function markCheckpoint(folder: RunFolder, mark: CheckpointMark, keep = 2): void {
  writeJsonAtomic(`${checkpointPath(folder, mark.step)}.json`, mark);
  const marks = listCheckpoints(folder);
  for (const old of marks.slice(0, Math.max(0, marks.length - keep))) {
    rmSync(checkpointPath(folder, old.step), { force: true });
    rmSync(`${checkpointPath(folder, old.step)}.json`, { force: true });
  }
}

/** Complete checkpoints (file and sidecar both present), oldest first. */
export function listCheckpoints(folder: RunFolder): CheckpointMark[] {
  if (!existsSync(folder.checkpoints)) return [];
  return readdirSync(folder.checkpoints)
    .filter((f) => /^step-\d+\.ckpt\.json$/.test(f))
    .map((f) => readSidecarIfPresent(join(folder.checkpoints, f)))
    .filter((m): m is CheckpointMark => m !== null && existsSync(checkpointPath(folder, m.step)))
    .sort((a, b) => a.step - b.step);
}

/** A sidecar, or null when it went between listing and reading (a trainer prunes old checkpoints as it goes). */
function readSidecarIfPresent(file: string): CheckpointMark | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CheckpointMark;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function readCheckpointMark(ckptFile: string): CheckpointMark {
  const sidecar = `${ckptFile}.json`;
  if (!existsSync(ckptFile) || !existsSync(sidecar)) throw new Error(`checkpoint ${ckptFile} is missing or incomplete`);
  return JSON.parse(readFileSync(sidecar, 'utf8')) as CheckpointMark;
}
