// Guesses how a file is laid out (container and row format) from its name and first bytes, and
// builds the preview the user confirms or overrides before importing.
import { extname } from 'node:path';
import type { Container } from '../../db/datasets.js';
import { checkDataFile, readHead } from './data-file-check.js';
import { mappingFields, type FieldMapping } from './field-mapping.js';
import { detectRecordFormat, normalizeRecord, type NormalizeResult, type RecordFormat } from './record-formats.js';
import { readRawRecords, type SourceOptions } from './record-source.js';
import { DataFileError, type RowIssue } from './row-issue.js';

export interface DataPreview {
  file: string;
  bytes: number;
  container: Container;
  format: RecordFormat;
  /** Field (or column) names of the first row. */
  fields: string[];
  /** A guessed mapping for 'fields' rows, shown to the user as a starting point. */
  suggestedMapping: FieldMapping | null;
  /**
   * True when the rows fit no known format and the guess (if any) would leave fields unused: the
   * user must confirm a mapping. A guess that uses every field but an id (SST-2's sentence and
   * label) is applied by default.
   */
  needsMapping: boolean;
  rows: { line: number; raw: unknown; normalized: NormalizeResult }[];
  issues: RowIssue[];
}

/** Container from the extension, falling back to the first non-blank character and first line. */
export function detectContainer(file: string): Container {
  const ext = extname(file).toLowerCase();
  const head = readHead(file, 64 * 1024).toString('utf8').replace(/^\uFEFF/, '');
  const firstChar = head.trimStart()[0];
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  if (ext === '.txt' || ext === '.md' || ext === '.text') return 'txt';
  if (firstChar === '[') return 'json';
  if (firstChar === '{') {
    // A .json file holding one object per line is JSONL whatever its name says. When the first
    // line is not valid JSON on its own, the file is still JSONL (with a bad first row, reported
    // by its line) if it is that line alone or another unindented line is a whole object; a
    // pretty-printed object spreads over indented lines.
    const lines = head.trimStart().split('\n');
    const parses = (line: string): boolean => {
      try {
        JSON.parse(line);
        return true;
      } catch {
        return false;
      }
    };
    if (parses(lines[0] ?? '')) return 'jsonl';
    const others = lines.slice(1).filter((l) => l.trim() !== '');
    if (others.length === 0 || others.some((l) => l.startsWith('{') && parses(l))) return 'jsonl';
    return 'json';
  }
  if (ext === '.json') return 'json';
  const line = head.split('\n', 1)[0] ?? '';
  if (line.includes('\t')) return 'tsv';
  if (line.includes(',')) return 'csv';
  return 'txt';
}

const ID_FIELDS = new Set(['id', 'idx', 'guid', 'index', 'uid']);

const PROMPT_NAMES = ['question', 'query', 'instruction', 'input', 'prompt', 'sentence', 'source', 'premise', 'context'];
const RESPONSE_NAMES = ['answer', 'output', 'response', 'target', 'completion', 'reply', 'label'];

/** For rows in no known format, a prompt/response mapping from common column names, if any fit. */
export function suggestMapping(fields: string[]): FieldMapping | null {
  const lower = new Map(fields.map((f) => [f.toLowerCase(), f]));
  const prompt = PROMPT_NAMES.map((n) => lower.get(n)).find((f) => f !== undefined);
  const response = RESPONSE_NAMES.map((n) => lower.get(n)).find((f) => f !== undefined && f !== prompt);
  if (prompt === undefined || response === undefined) return null;
  const escape = (f: string): string => `{${f}}`;
  return { prompt: escape(prompt), response: escape(response) };
}

export interface PreviewOptions extends Partial<SourceOptions> {
  format?: RecordFormat;
  mapping?: FieldMapping;
  /** Rows to show (default 5). */
  rows?: number;
}

/**
 * Rows read past in search of one good row to detect the format from: a bad first line does not
 * decide the format, but a file whose first rows are all unreadable is reported by its first error.
 */
const MAX_LEADING_BAD_ROWS = 20;

/** Reads only the first rows: cheap enough to call on every change of an override in the UI. */
export function previewDataFile(file: string, options: PreviewOptions = {}): DataPreview {
  const bytes = checkDataFile(file);
  const container = options.container ?? detectContainer(file);
  const wanted = options.rows ?? 5;
  const rows: DataPreview['rows'] = [];
  const issues: RowIssue[] = [];
  let format = options.format ?? (container === 'txt' ? 'text' : undefined);
  let fields: string[] = [];
  for (const item of readRawRecords(file, { ...options, container })) {
    if ('issue' in item) {
      issues.push(item.issue);
      if (issues.length >= Math.max(wanted, MAX_LEADING_BAD_ROWS)) break;
      continue;
    }
    if (format === undefined) format = detectRecordFormat(item.value);
    if (rows.length === 0 && item.value !== null && typeof item.value === 'object') fields = Object.keys(item.value);
    rows.push({ line: item.line, raw: item.value, normalized: normalizeRecord(item.value, format, options.mapping ?? undefined) });
    if (rows.length >= wanted) break;
  }
  if (rows.length === 0) {
    const first = issues[0];
    if (first === undefined) throw new DataFileError(file, null, 'the file has no rows');
    const rest = issues.length > 1 ? ` (and the ${issues.length - 1} rows after it are unreadable too)` : '';
    throw new DataFileError(file, first.line, `${first.message}${rest}`);
  }
  const resolved = format ?? 'fields';
  const suggestedMapping = resolved === 'fields' && !options.mapping ? suggestMapping(fields) : null;
  if (suggestedMapping) {
    for (const r of rows) r.normalized = normalizeRecord(r.raw, 'fields', suggestedMapping);
  }
  const used = suggestedMapping ? new Set(mappingFields(suggestedMapping)) : new Set<string>();
  const suggestionCoversAll = suggestedMapping !== null && fields.every((f) => used.has(f) || ID_FIELDS.has(f.toLowerCase()));
  return {
    file,
    bytes,
    container,
    format: resolved,
    fields,
    suggestedMapping,
    needsMapping: resolved === 'fields' && !options.mapping && !suggestionCoversAll,
    rows,
    issues,
  };
}
