// Recognises a file that was imported before with the same rows as an import would give now, so
// `tunesmith train --data FILE` run again and again trains on one dataset instead of piling up copies.
import { createHash } from 'node:crypto';
import type { Db } from '../../db/database.js';
import { listDatasets, type Container, type DatasetRow } from '../../db/datasets.js';
import { fileSha256 } from './content-hash.js';
import type { FieldMapping } from './field-mapping.js';
import { DEFAULT_MAX_ROW_BYTES } from './line-reader.js';
import type { RecordFormat } from './record-formats.js';
import { DEFAULT_SPLIT_SEED, DEFAULT_VAL_FRACTION } from './seeded-split.js';
import { DEFAULT_TXT_CHUNK_CHARS, type SourceOptions } from './record-source.js';

/** The options of an import that decide which rows it keeps (the split is compared on the dataset row). */
export interface RowDecidingOptions extends Partial<SourceOptions> {
  keepValidRows?: boolean;
  keepDuplicates?: boolean;
  /** The length check's limit and tokenizer; it changes the rows only when valid rows are kept. */
  lengthCheck?: { modelId: number | null; templateName: string | null; maxTokens: number };
}

/**
 * Equal fingerprints mean equal rows: the file's bytes, its resolved layout and mapping, and every
 * option that changes what is kept, each at its effective default so that "left out" and "given
 * as the default" agree.
 */
export function importFingerprint(
  fileHash: string,
  resolved: { container: Container; format: RecordFormat; mapping: FieldMapping | null },
  options: RowDecidingOptions,
): string {
  const keepValidRows = options.keepValidRows ?? false;
  const canonical = {
    fileSha256: fileHash,
    container: resolved.container,
    format: resolved.format,
    mapping: resolved.mapping,
    hasHeader: options.hasHeader ?? true,
    quoting: options.quoting ?? true,
    maxRowBytes: options.maxRowBytes ?? DEFAULT_MAX_ROW_BYTES,
    txtChunkChars: options.txtChunkChars ?? DEFAULT_TXT_CHUNK_CHARS,
    keepValidRows,
    keepDuplicates: options.keepDuplicates ?? false,
    // Without keepValidRows a row over the context rejects the whole import, so the limit cannot
    // change which rows a successful import holds.
    lengthCheck: keepValidRows && options.lengthCheck ? [options.lengthCheck.modelId, options.lengthCheck.templateName, options.lengthCheck.maxTokens] : null,
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/** The newest stored dataset with this fingerprint and split, if any. */
export function findDatasetByFingerprint(db: Db, fingerprint: string, split: { seed: number; valFraction: number }): DatasetRow | undefined {
  return listDatasets(db)
    .filter((d) => (d.report as { fingerprint?: unknown } | null)?.fingerprint === fingerprint && d.splitSeed === split.seed && d.valFraction === split.valFraction)
    .sort((a, b) => b.id - a.id)[0];
}

/** A stored dataset an import of `file` with these options would duplicate, if any. */
export function findIdenticalDataset(
  db: Db,
  file: string,
  resolved: { container: Container; format: RecordFormat; mapping: FieldMapping | null },
  options: RowDecidingOptions & { seed?: number; valFraction?: number },
): DatasetRow | undefined {
  const fingerprint = importFingerprint(fileSha256(file), resolved, options);
  return findDatasetByFingerprint(db, fingerprint, { seed: options.seed ?? DEFAULT_SPLIT_SEED, valFraction: options.valFraction ?? DEFAULT_VAL_FRACTION });
}
