// A training run's folder: run.json (the spec it was started with), checkpoints/ (engine checkpoint
// files, each with a small JSON sidecar saying which step it holds and how far into the data it
// was), and model/ (the trained model) or adapter/ (a trained LoRA adapter), written at the end. Every file is written atomically
// (temporary name, fsync, rename, fsync of the folder), so a crash leaves either the old file or the new one.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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

/** A new run needs an empty folder: one run never overwrites another. */
export function prepareNewRunFolder(folder: RunFolder, spec: TrainSpec): void {
  if (existsSync(folder.dir) && readdirSync(folder.dir).length > 0) {
    throw new Error(`the run folder ${folder.dir} already exists and is not empty: choose a new folder, or resume it with --resume`);
  }
  mkdirSync(folder.checkpoints, { recursive: true });
  writeJsonAtomic(folder.runJson, { format: 1, spec: { ...spec, resumeFrom: undefined } });
}

export function readRunSpec(folder: RunFolder): TrainSpec {
  if (!existsSync(folder.runJson)) throw new Error(`${folder.runJson} not found: is ${folder.dir} a Tunesmith run folder?`);
  return (JSON.parse(readFileSync(folder.runJson, 'utf8')) as { spec: TrainSpec }).spec;
}

export interface CheckpointMark {
  /** Optimizer steps done. */
  step: number;
  /** Examples consumed from the data order (it is replayed up to here on resume). */
  examples: number;
  datasetId: number;
  trainExamples: number;
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
    .map((f) => JSON.parse(readFileSync(join(folder.checkpoints, f), 'utf8')) as CheckpointMark)
    .filter((m) => existsSync(checkpointPath(folder, m.step)))
    .sort((a, b) => a.step - b.step);
}

export function readCheckpointMark(ckptFile: string): CheckpointMark {
  const sidecar = `${ckptFile}.json`;
  if (!existsSync(ckptFile) || !existsSync(sidecar)) throw new Error(`checkpoint ${ckptFile} is missing or incomplete`);
  return JSON.parse(readFileSync(sidecar, 'utf8')) as CheckpointMark;
}
