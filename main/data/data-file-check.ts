// The checks every read of a data file starts with, so the user learns what is wrong with the path
// itself (missing, a folder, empty, an image or an archive) before any row is parsed.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { detectBinaryFile } from './binary-signature.js';
import { DataFileError, NotADataFileError } from './row-issue.js';

/** Bytes read to recognise a binary file: enough for every signature and for a stray NUL byte. */
const SNIFF_BYTES = 4096;

/** The first `bytes` bytes of a file (fewer when it is shorter). */
export function readHead(file: string, bytes: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    return buf.subarray(0, readSync(fd, buf, 0, bytes, 0));
  } finally {
    closeSync(fd);
  }
}

/** Throws a DataFileError naming the file and what it is unless it is a non-empty text file; returns its size. */
export function checkDataFile(file: string): number {
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataFileError(file, null, 'no such file');
    if (code === 'ENOTDIR') throw new DataFileError(file, null, 'no such file (a part of the path is a file, not a folder)');
    if (code === 'EACCES') throw new DataFileError(file, null, 'permission denied');
    throw err;
  }
  if (stat.isDirectory()) throw new NotADataFileError(file, 'a folder: choose a file');
  if (!stat.isFile()) throw new NotADataFileError(file, 'not a regular file: choose a data file');
  if (stat.size === 0) throw new DataFileError(file, null, 'the file is empty');
  const binary = detectBinaryFile(readHead(file, SNIFF_BYTES), file, stat.size);
  if (binary) throw new NotADataFileError(file, `${binary.what}, not a text dataset${binary.hint ? `: ${binary.hint}` : ''}`);
  return stat.size;
}
