// Output paths are checked before any work: a file where a folder belongs, a folder where a file
// belongs, a missing parent and an unwritable folder are each named with the path.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkWritableFile, checkWritableFolder, UnwritableOutputError } from '../../../main/system/writable-output.js';
import { tempHome } from '../../helpers/temp-home.js';

const home = tempHome();
afterAll(() => home.cleanup());

const file = join(home.dir, 'a-file');
writeFileSync(file, 'x');
const folder = join(home.dir, 'a-folder');
mkdirSync(folder);

/** An access() that refuses `refused` with the given errno code, as a read-only folder or mount does. */
function refusing(refused: string, code: string) {
  return (path: string): void => {
    if (path === refused) throw Object.assign(new Error(`${code}: refused, access '${path}'`), { code });
  };
}

function messageOf(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UnwritableOutputError);
    return (err as Error).message;
  }
  throw new Error('expected the check to throw');
}

describe('output folders', () => {
  it('a new folder under a writable one, and an existing folder, pass', () => {
    expect(() => checkWritableFolder(join(folder, 'run-1', 'deeper'))).not.toThrow();
    expect(() => checkWritableFolder(folder)).not.toThrow();
  });

  it('a file where the folder, or one of its parents, would go', () => {
    expect(messageOf(() => checkWritableFolder(file))).toBe(`${file} is a file: choose a folder`);
    const under = join(file, 'run', 'x');
    expect(messageOf(() => checkWritableFolder(under))).toBe(`cannot write to ${under}: ${file} is a file, not a folder`);
  });

  it('a read-only folder, or a read-only mount, above the new folder', () => {
    const out = join(folder, 'run-2');
    expect(messageOf(() => checkWritableFolder(out, refusing(folder, 'EACCES')))).toBe(`cannot write to ${out}: permission denied (the folder ${folder} is read-only)`);
    expect(messageOf(() => checkWritableFolder(folder, refusing(folder, 'EACCES')))).toBe(`cannot write to ${folder}: permission denied (the folder is read-only)`);
    expect(messageOf(() => checkWritableFolder(out, refusing(folder, 'EROFS')))).toBe(`cannot write to ${out}: the folder ${folder} is on a read-only file system`);
  });

  it.skipIf(process.getuid?.() === 0)('a folder made read-only with chmod (skipped as root, whom chmod does not stop)', () => {
    const locked = join(home.dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    try {
      expect(messageOf(() => checkWritableFolder(join(locked, 'run')))).toBe(`cannot write to ${join(locked, 'run')}: permission denied (the folder ${locked} is read-only)`);
    } finally {
      chmodSync(locked, 0o755);
    }
  });
});

describe('output files', () => {
  it('a new file in a writable folder, and an existing file, pass', () => {
    expect(() => checkWritableFile(join(folder, 'rows.jsonl'))).not.toThrow();
    expect(() => checkWritableFile(file)).not.toThrow();
  });

  it('a folder where the file would go, a missing folder, a file as the folder', () => {
    expect(messageOf(() => checkWritableFile(folder))).toBe(`${folder} is a folder: choose a file`);
    const missing = join(folder, 'no-such', 'rows.jsonl');
    expect(messageOf(() => checkWritableFile(missing))).toBe(`cannot write to ${missing}: the folder ${join(folder, 'no-such')} does not exist`);
    const under = join(file, 'rows.jsonl');
    expect(messageOf(() => checkWritableFile(under))).toBe(`cannot write to ${under}: ${file} is a file, not a folder`);
  });

  it('a read-only file or folder', () => {
    expect(messageOf(() => checkWritableFile(file, refusing(file, 'EACCES')))).toBe(`cannot write to ${file}: permission denied (the file is read-only)`);
    const out = join(folder, 'rows.jsonl');
    expect(messageOf(() => checkWritableFile(out, refusing(folder, 'EROFS')))).toBe(`cannot write to ${out}: the folder ${folder} is on a read-only file system`);
  });
});
