// Imports a data file into the database as one dataset, all or nothing: the examples are staged
// under a dataset no reader sees, in short transactions so other writers (a training run's
// metrics) are never held up for long, and the dataset appears in one short last transaction with
// its split and counts. A rejected file or an error removes what was staged; a crash or a kill
// leaves staged rows that the next opening of the database removes (db/dataset-imports.ts). Runs
// synchronously: call it from a worker thread or the CLI, not the UI thread.
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import type { Db } from '../../db/database.js';
import { discardDatasetImport, markValidationRows, publishDatasetImport, stagedExampleWriter } from '../../db/dataset-imports.js';
import { getDataset, insertImportingDataset, type Container, type DatasetRow } from '../../db/datasets.js';
import type { NewExample } from '../../db/examples.js';
import { exampleHash, fileSha256 } from './content-hash.js';
import { checkDataFile } from './data-file-check.js';
import { previewDataFile } from './detect-format.js';
import { importFingerprint } from './identical-dataset.js';
import type { NormalizedExample } from './example.js';
import type { FieldMapping } from './field-mapping.js';
import { normalizeRecord, type RecordFormat } from './record-formats.js';
import { readRawRecords, type SourceOptions } from './record-source.js';
import { DataFileError, formatIssue, type IssueKind, type RowIssue } from './row-issue.js';
import { chooseValidationIndices, DEFAULT_SPLIT_SEED, DEFAULT_VAL_FRACTION } from './seeded-split.js';

/** Token counting for the "over the model's context" check; built by main/data/templated-example.ts. */
export interface LengthCheck {
  modelId: number | null;
  /** Name of the chat template the counts were made with, stored with the dataset. */
  templateName: string | null;
  maxTokens: number;
  /** Tokens of the example as the model will see it (template, BOS and EOS included), or null when it certainly fits and was not counted. */
  countTokens(example: NormalizedExample): number | null;
}

export interface ImportProgress {
  rowsRead: number;
  validRows: number;
  issues: number;
  bytesRead: number;
  totalBytes: number;
  elapsedMs: number;
}

export interface ImportOptions extends Partial<SourceOptions> {
  name?: string;
  format?: RecordFormat;
  mapping?: FieldMapping;
  /** Keep the valid rows when some are bad. Default false: any bad row rejects the whole file. */
  keepValidRows?: boolean;
  /** Keep exact duplicates. Default false: later copies are skipped and counted in the report. */
  keepDuplicates?: boolean;
  /** Share of rows held out for validation (default 0.1). */
  valFraction?: number;
  seed?: number;
  lengthCheck?: LengthCheck;
  onProgress?: (p: ImportProgress) => void;
  progressIntervalMs?: number;
  /** Issues kept in the report in full; the rest are only counted (default 1000). */
  maxReportedIssues?: number;
}

export interface ImportReport {
  file: string;
  container: Container;
  format: RecordFormat;
  mapping: FieldMapping | null;
  rowsRead: number;
  validRows: number;
  invalidRows: number;
  duplicateRows: number;
  issueCounts: Partial<Record<IssueKind, number>>;
  issues: RowIssue[];
  issuesTruncated: boolean;
  /** The file's bytes and the options that decide its rows (identical-dataset.ts): equal fingerprints, equal rows. */
  fingerprint: string;
}

export interface ImportResult {
  dataset: DatasetRow;
  report: ImportReport;
}

/** The file had bad rows and keepValidRows was off, or it had no valid rows at all. */
export class ImportRejectedError extends Error {
  constructor(readonly report: ImportReport) {
    const shown = report.issues.filter((i) => i.kind !== 'duplicate').slice(0, 5).map((i) => '  ' + formatIssue(report.file, i));
    const more = report.invalidRows > shown.length ? `\n  ... and ${report.invalidRows - shown.length} more` : '';
    const head =
      report.validRows === 0
        ? `${report.file}: no valid rows (${report.invalidRows} bad)`
        : `${report.file}: ${report.invalidRows} of ${report.rowsRead} rows are bad; nothing was imported (keep the ${report.validRows} valid rows to import them)`;
    super(`${head}\n${shown.join('\n')}${more}`);
    this.name = 'ImportRejectedError';
  }
}

interface Resolved {
  container: Container;
  format: RecordFormat;
  mapping: FieldMapping | null;
}

/** Fills in what the caller left to detection; a file in no known format needs a mapping. */
export function resolveImportFormat(file: string, options: ImportOptions): Resolved {
  if (options.container && options.format && (options.format !== 'fields' || options.mapping)) {
    return { container: options.container, format: options.format, mapping: options.mapping ?? null };
  }
  const preview = previewDataFile(file, { ...options, rows: 1 });
  if (preview.needsMapping) {
    throw new DataFileError(
      file,
      preview.rows[0]?.line ?? null,
      `rows are in no known format (fields: ${preview.fields.join(', ')}); map them to a prompt and a response, e.g. prompt "${
        preview.suggestedMapping?.prompt ?? `{${preview.fields[0] ?? 'question'}}`
      }" and response "${preview.suggestedMapping?.response ?? `{${preview.fields[1] ?? 'answer'}}`}"`,
    );
  }
  return { container: preview.container, format: preview.format, mapping: options.mapping ?? preview.suggestedMapping };
}

export type ScannedRow = { line: number; example: NormalizedExample; hash: string; tokens: number | null };

/**
 * Reads, normalises and checks every row, calling onRow for each good one. Returns the report.
 * Shared by the dry-run validation and the import, so both see exactly the same verdicts.
 */
function scanFile(file: string, resolved: Resolved, options: ImportOptions, onRow: (row: ScannedRow) => void): ImportReport {
  const totalBytes = checkDataFile(file);
  const maxIssues = options.maxReportedIssues ?? 1000;
  const report: ImportReport = {
    file,
    container: resolved.container,
    format: resolved.format,
    mapping: resolved.mapping,
    rowsRead: 0,
    validRows: 0,
    invalidRows: 0,
    duplicateRows: 0,
    issueCounts: {},
    issues: [],
    issuesTruncated: false,
    fingerprint: importFingerprint(fileSha256(file), resolved, options),
  };
  const addIssue = (issue: RowIssue): void => {
    report.issueCounts[issue.kind] = (report.issueCounts[issue.kind] ?? 0) + 1;
    if (report.issues.length < maxIssues) report.issues.push(issue);
    else report.issuesTruncated = true;
  };
  const firstLineOf = new Map<string, number>();
  const started = Date.now();
  const interval = options.progressIntervalMs ?? 250;
  let lastProgress = started;
  let bytesRead = 0;
  const progress = (): void =>
    options.onProgress?.({
      rowsRead: report.rowsRead,
      validRows: report.validRows,
      issues: report.invalidRows + report.duplicateRows,
      bytesRead,
      totalBytes,
      elapsedMs: Date.now() - started,
    });

  for (const item of readRawRecords(file, { ...options, container: resolved.container })) {
    report.rowsRead++;
    bytesRead = item.bytesRead;
    if ('issue' in item) {
      report.invalidRows++;
      addIssue(item.issue);
    } else {
      const result = normalizeRecord(item.value, resolved.format, resolved.mapping ?? undefined);
      if (!result.ok) {
        report.invalidRows++;
        addIssue(result.field === undefined ? { line: item.line, kind: result.kind, message: result.message } : { line: item.line, kind: result.kind, field: result.field, message: result.message });
      } else {
        const hash = exampleHash(result.example);
        const earlier = firstLineOf.get(hash);
        if (earlier !== undefined && !options.keepDuplicates) {
          report.duplicateRows++;
          addIssue({ line: item.line, kind: 'duplicate', message: `exact duplicate of the row at line ${earlier}; skipped` });
        } else {
          if (earlier === undefined) firstLineOf.set(hash, item.line);
          let tokens: number | null = null;
          const check = options.lengthCheck;
          if (check) tokens = check.countTokens(result.example);
          if (check && tokens !== null && tokens > check.maxTokens) {
            report.invalidRows++;
            addIssue({ line: item.line, kind: 'over-context', message: `the templated example is ${tokens} tokens, over the model's context of ${check.maxTokens}` });
          } else {
            report.validRows++;
            onRow({ line: item.line, example: result.example, hash, tokens });
          }
        }
      }
    }
    const now = Date.now();
    if (now - lastProgress >= interval) {
      lastProgress = now;
      progress();
    }
  }
  bytesRead = totalBytes;
  progress();
  if (report.rowsRead === 0) throw new DataFileError(file, null, 'the file has no rows');
  return report;
}

/** Dry run: the full report of what an import would keep and reject, writing nothing. */
export function validateDataFile(file: string, options: ImportOptions = {}): ImportReport {
  return scanFile(file, resolveImportFormat(file, options), options, () => {});
}

/**
 * Staged rows are written in transactions of at most this many rows or about this many bytes of
 * content, whichever comes first: each stays in the tens of milliseconds even for long examples.
 */
const STAGE_BATCH_ROWS = 2000;
const STAGE_BATCH_BYTES = 2 << 20;

/** Roughly how many bytes an example adds to the database: enough to bound a batch. */
function exampleBytes(example: NormalizedExample): number {
  if (example.kind === 'text') return example.text.length + 64;
  let n = 64;
  for (const m of example.messages) n += m.content.length + m.role.length + 24;
  return n;
}

export function importDataset(db: Db, file: string, options: ImportOptions = {}): ImportResult {
  const resolved = resolveImportFormat(file, options);
  const valFraction = options.valFraction ?? DEFAULT_VAL_FRACTION;
  const seed = options.seed ?? DEFAULT_SPLIT_SEED;
  const datasetId = insertImportingDataset(db, {
    name: options.name ?? basename(file),
    sourcePath: file,
    sourceBytes: statSync(file).size,
    container: resolved.container,
    format: resolved.format,
    kind: resolved.container === 'txt' || resolved.format === 'text' || resolved.mapping?.text !== undefined ? 'text' : 'chat',
    mapping: resolved.mapping,
    modelId: options.lengthCheck?.modelId ?? null,
    template: options.lengthCheck?.templateName ?? null,
    skippedInvalid: 0,
    skippedDuplicate: 0,
    splitSeed: seed,
    valFraction,
    report: null,
  });
  try {
    const writeBatch = stagedExampleWriter(db, datasetId);
    let batch: NewExample[] = [];
    let batchBytes = 0;
    const flush = (): void => {
      writeBatch(batch);
      batch = [];
      batchBytes = 0;
    };
    let position = 0;
    const report = scanFile(file, resolved, options, (row) => {
      batch.push({ position: position++, sourceLine: row.line, example: row.example, contentHash: row.hash, split: 'train', totalTokens: row.tokens });
      batchBytes += exampleBytes(row.example);
      if (batch.length >= STAGE_BATCH_ROWS || batchBytes >= STAGE_BATCH_BYTES) flush();
    });
    if (report.validRows === 0 || (report.invalidRows > 0 && !options.keepValidRows)) throw new ImportRejectedError(report);
    if (batch.length > 0) flush();
    // The split needs the final row count, so it is drawn once every row is staged.
    markValidationRows(db, datasetId, chooseValidationIndices(position, valFraction, seed));
    publishDatasetImport(db, datasetId, { skippedInvalid: report.invalidRows, skippedDuplicate: report.duplicateRows, report });
    return { dataset: getDataset(db, datasetId)!, report };
  } catch (err) {
    try {
      discardDatasetImport(db, datasetId);
    } catch {
      // Left 'importing', so still invisible; the next opening of the database removes it.
    }
    throw err;
  }
}
