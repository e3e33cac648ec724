// Checks, before any work starts, that an output path can be written: a training run or an export
// that would fail on its first write after minutes of loading says so up front instead, naming the
// path and why (read-only, permission denied, a file where a folder belongs).
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** An output path that cannot be written; the message names the path and the reason. */
export class UnwritableOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnwritableOutputError';
  }
}

type Access = (path: string, mode: number) => void;

interface Existing {
  path: string;
  isDirectory: boolean;
}

/** The path itself when it exists, or else its nearest existing ancestor. */
function nearestExisting(path: string): Existing {
  for (let p = path; ; p = dirname(p)) {
    try {
      return { path: p, isDirectory: statSync(p).isDirectory() };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a file sits somewhere above; keep walking up to find it.
      if (code === 'EACCES') throw new UnwritableOutputError(`cannot write to ${path}: permission denied (a folder on the way to it cannot be read)`);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(p) === p) throw new UnwritableOutputError(`cannot write to ${path}: ${(err as Error).message}`);
    }
  }
}

/** Whether the folder `dir` lets this process create entries in it; throws the reason when not. */
function checkFolderWritable(target: string, dir: string, access: Access): void {
  try {
    access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const which = dir === target ? 'the folder' : `the folder ${dir}`;
    if (code === 'EROFS') throw new UnwritableOutputError(`cannot write to ${target}: ${which} is on a read-only file system`);
    if (code === 'EACCES' || code === 'EPERM') throw new UnwritableOutputError(`cannot write to ${target}: permission denied (${which} is read-only)`);
    throw new UnwritableOutputError(`cannot write to ${target}: ${(err as Error).message}`);
  }
}

/**
 * `dir` is to be a folder the caller creates (with its parents) or writes into: throws when it is a
 * file, when a file stands where one of its parents would go, or when the nearest existing folder
 * cannot be written. `access` is for tests, which run as root where permissions do not bite.
 */
export function checkWritableFolder(dir: string, access: Access = accessSync): void {
  const target = resolve(dir);
  const existing = nearestExisting(target);
  if (!existing.isDirectory) {
    if (existing.path === target) throw new UnwritableOutputError(`${target} is a file: choose a folder`);
    throw new UnwritableOutputError(`cannot write to ${target}: ${existing.path} is a file, not a folder`);
  }
  checkFolderWritable(target, existing.path, access);
}

/** `file` is to be created or replaced as a file: throws when it is a folder, or its folder is missing or cannot be written. */
export function checkWritableFile(file: string, access: Access = accessSync): void {
  const target = resolve(file);
  const existing = nearestExisting(target);
  if (existing.path === target) {
    if (existing.isDirectory) throw new UnwritableOutputError(`${target} is a folder: choose a file`);
    try {
      access(target, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EROFS') throw new UnwritableOutputError(`cannot write to ${target}: the file is on a read-only file system`);
      if (code === 'EACCES' || code === 'EPERM') throw new UnwritableOutputError(`cannot write to ${target}: permission denied (the file is read-only)`);
      throw new UnwritableOutputError(`cannot write to ${target}: ${(err as Error).message}`);
    }
    return;
  }
  if (!existing.isDirectory) throw new UnwritableOutputError(`cannot write to ${target}: ${existing.path} is a file, not a folder`);
  if (existing.path !== dirname(target)) throw new UnwritableOutputError(`cannot write to ${target}: the folder ${dirname(target)} does not exist`);
  checkFolderWritable(target, existing.path, access);
}
