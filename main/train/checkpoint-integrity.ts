// Whether a checkpoint file is still the one the engine wrote. The engine's container checks its own
// structure (magic, header, array bounds) but not its contents: a flipped bit would load and train on
// silently. So each checkpoint's sidecar records the file's size and SHA-256, computed once the
// engine's file is on disk, and a run resumes only from a checkpoint that still matches them.
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { checkpointPath, listCheckpoints, type CheckpointMark, type RunFolder } from './run-folder.js';

export interface FileChecksum {
  sha256: string;
  bytes: number;
}

/** Streams the file through SHA-256, so a checkpoint of many gigabytes never sits in memory. */
export async function fileChecksum(file: string): Promise<FileChecksum> {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(createReadStream(file), async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  });
  return { sha256: hash.digest('hex'), bytes };
}

/** Why the checkpoint file no longer matches its sidecar ("checksum mismatch", "truncated: …"), or null when it does. */
export async function checkpointDamage(file: string, mark: CheckpointMark): Promise<string | null> {
  if (mark.sha256 === undefined) return null; // recorded without a checksum: nothing to compare with
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
  // The size is known without reading the file; a cut-off file is named as such.
  if (mark.bytes !== undefined && size < mark.bytes) return `truncated: ${size} of ${mark.bytes} bytes`;
  if (mark.bytes !== undefined && size > mark.bytes) return `${size} bytes, ${mark.bytes} were written`;
  let actual: FileChecksum;
  try {
    actual = await fileChecksum(file);
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
  return actual.sha256 === mark.sha256 ? null : 'checksum mismatch';
}

export interface DamagedCheckpoint {
  step: number;
  reason: string;
}

/**
 * The newest checkpoint whose file is intact, and the newer ones passed over as damaged (newest
 * first). `intact` is null when no checkpoint is intact (or there is none).
 */
export async function newestIntactCheckpoint(folder: RunFolder): Promise<{ intact: CheckpointMark | null; damaged: DamagedCheckpoint[] }> {
  const damaged: DamagedCheckpoint[] = [];
  for (const mark of listCheckpoints(folder).reverse()) {
    const reason = await checkpointDamage(checkpointPath(folder, mark.step), mark);
    if (reason === null) return { intact: mark, damaged };
    damaged.push({ step: mark.step, reason });
  }
  return { intact: null, damaged };
}

/** What a user is told when a damaged checkpoint is passed over. */
export function fallbackMessage(damaged: DamagedCheckpoint, fromStep: number): string {
  return `checkpoint step ${damaged.step} is damaged (${damaged.reason}): resuming from step ${fromStep}`;
}
