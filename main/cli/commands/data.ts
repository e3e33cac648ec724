// tunesmith data: import, list, show, export and remove datasets.
import { resolve } from 'node:path';
import { openDatabase, type Db } from '../../../db/database.js';
import type { Container } from '../../../db/datasets.js';
import { getDataset, listDatasets, type DatasetRow } from '../../../db/datasets.js';
import { getModel } from '../../../db/models.js';
import { listExamples } from '../../../db/examples.js';
import { exportDatasetJsonl, writeDatasetJsonl } from '../../data/export-dataset.js';
import type { FieldMapping } from '../../data/field-mapping.js';
import { importDataset, ImportRejectedError, type ImportOptions } from '../../data/import-dataset.js';
import { RECORD_FORMATS, type RecordFormat } from '../../data/record-formats.js';
import { removeDataset } from '../../data/remove-dataset.js';
import { formatIssue } from '../../data/row-issue.js';
import { contextLengthCheck, templateExample, templateStopToken } from '../../data/templated-example.js';
import { datasetTokenStats } from '../../data/tokenized-dataset.js';
import type { TokenLengthStats } from '../../data/token-stats.js';
import { BUILTIN_TEMPLATE_NAMES, type BuiltinTemplateName } from '../../model/chat-template.js';
import { openModelForData, type ModelForData } from '../../model/model-folder.js';
import { homeLayout } from '../../paths.js';
import { runInBackground } from '../../system/background-priority.js';
import { checkWritableFile } from '../../system/writable-output.js';
import { formatBytes, formatSeconds, parseIntOption, parseOptions, UsageError, type CliCommand, type CliIo } from '../command.js';

const CONTAINERS: Container[] = ['json', 'jsonl', 'csv', 'tsv', 'txt'];

function withDb<T>(io: CliIo, fn: (db: Db) => T): T {
  const db = openDatabase(homeLayout(io.home).database);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function parseId(value: string | undefined, what: string): number {
  const id = Number(value);
  if (!Number.isInteger(id) || id < 1) throw new UsageError(`${what} needs a dataset id, got "${value ?? ''}"`);
  return id;
}

function parseTemplate(value: string | undefined): BuiltinTemplateName | 'model' | undefined {
  if (value === undefined) return undefined;
  if (value === 'model' || (BUILTIN_TEMPLATE_NAMES as readonly string[]).includes(value)) return value as BuiltinTemplateName | 'model';
  throw new UsageError(`--template must be model or one of ${BUILTIN_TEMPLATE_NAMES.join(', ')}, got "${value}"`);
}

function summary(d: DatasetRow): string {
  return [String(d.id).padStart(4), String(d.rowCount).padStart(8), `${d.trainCount}/${d.valCount}`.padStart(13), d.format.padEnd(17), d.container.padEnd(5), d.name].join('  ');
}

function printStats(io: CliIo, stats: TokenLengthStats & { sampled: number; of: number }, contextLength: number | null): void {
  const est = stats.sampled < stats.of ? ` (estimated from ${stats.sampled} of ${stats.of} examples)` : '';
  io.out(`tokens per example${est}: min ${stats.min}, mean ${stats.mean.toFixed(1)}, p50 ${stats.p50}, p90 ${stats.p90}, p99 ${stats.p99}, max ${stats.max}`);
  if (contextLength !== null) io.out(`over the model's context of ${contextLength}: ${stats.overContext}`);
  const peak = Math.max(1, ...stats.histogram.map((b) => b.count));
  for (const b of stats.histogram) {
    io.out(`  ${`${b.from}-${b.to - 1}`.padStart(13)} ${String(b.count).padStart(7)} ${'#'.repeat(Math.round((40 * b.count) / peak))}`);
  }
}

const help = `Usage: tunesmith data import FILE [--format F] [--name N] [--model DIR] [options]
       tunesmith data list [--json]
       tunesmith data show ID [--rows N] [--model DIR] [--template T] [--json]
       tunesmith data export ID --format jsonl [--out FILE] [--split train|val]
       tunesmith data rm ID

import options:
  --format F         ${RECORD_FORMATS.join(', ')} (row format), or
                     ${CONTAINERS.join(', ')} (file layout); detected when left out
  --name N           dataset name (default: the file name)
  --model DIR        model folder: rows over its context are rejected, token statistics shown
  --template T       model (its own chat template) or ${BUILTIN_TEMPLATE_NAMES.join(', ')}
  --prompt TPL       map fields: user turn, e.g. "{premise} What was the {question}?"
  --response TPL     map fields: assistant turn, e.g. "{label}"
  --system TPL       map fields: system prompt
  --text TPL         map fields: pretraining text
  --no-header        CSV/TSV: the first row is data; name columns {1}, {2}, ...
  --no-quotes        CSV/TSV: treat " as an ordinary character
  --keep-valid       import the valid rows even when some are bad (default: reject the file)
  --keep-duplicates  keep exact duplicate rows (default: skip them)
  --val-fraction F   share held out for validation (default 0.1)
  --seed N           split seed (default 1234)
  --max-tokens N     context limit for the length check (default: the model's)
  --json             print the result as JSON`;

async function importCommand(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      format: { type: 'string' },
      name: { type: 'string' },
      model: { type: 'string' },
      template: { type: 'string' },
      prompt: { type: 'string' },
      response: { type: 'string' },
      system: { type: 'string' },
      text: { type: 'string' },
      'no-header': { type: 'boolean' },
      'no-quotes': { type: 'boolean' },
      'keep-valid': { type: 'boolean' },
      'keep-duplicates': { type: 'boolean' },
      'val-fraction': { type: 'string' },
      seed: { type: 'string' },
      'max-tokens': { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  );
  const file = positionals[0];
  if (!file) throw new UsageError('data import needs a FILE');
  const options: ImportOptions = {
    name: values.name,
    keepValidRows: values['keep-valid'] ?? false,
    keepDuplicates: values['keep-duplicates'] ?? false,
    hasHeader: !values['no-header'],
    quoting: !values['no-quotes'],
    seed: parseIntOption('seed', values.seed, 1234, 0, 2 ** 31),
  };
  if (values['val-fraction'] !== undefined) {
    const f = Number(values['val-fraction']);
    if (!(f >= 0 && f < 1)) throw new UsageError(`--val-fraction must be from 0 up to (not including) 1, got "${values['val-fraction']}"`);
    options.valFraction = f;
  }
  if (values.format !== undefined) {
    if ((CONTAINERS as string[]).includes(values.format)) options.container = values.format as Container;
    else if ((RECORD_FORMATS as readonly string[]).includes(values.format)) options.format = values.format as RecordFormat;
    else throw new UsageError(`--format must be one of ${[...RECORD_FORMATS, ...CONTAINERS].join(', ')}, got "${values.format}"`);
  }
  const mapping: FieldMapping = {};
  if (values.prompt !== undefined) mapping.prompt = values.prompt;
  if (values.response !== undefined) mapping.response = values.response;
  if (values.system !== undefined) mapping.system = values.system;
  if (values.text !== undefined) mapping.text = values.text;
  if (Object.keys(mapping).length > 0) {
    if (mapping.text === undefined && mapping.response === undefined) throw new UsageError('a field mapping needs --response (with --prompt) or --text');
    options.mapping = mapping;
    options.format = 'fields';
  }
  const template = parseTemplate(values.template);
  const started = Date.now();
  options.onProgress = (p) => {
    const pct = p.totalBytes > 0 ? (100 * p.bytesRead) / p.totalBytes : 100;
    const eta = p.bytesRead > 0 && pct < 100 ? `, about ${formatSeconds(((p.totalBytes - p.bytesRead) / p.bytesRead) * (p.elapsedMs / 1000))} left` : '';
    io.err(`progress: ${p.rowsRead} rows, ${formatBytes(p.bytesRead)} of ${formatBytes(p.totalBytes)} (${pct.toFixed(0)}%)${eta}`);
  };

  // A long import should not slow down a training run or the app on the same machine.
  runInBackground();
  return withDb(io, (db) => {
    let model: ModelForData | undefined;
    if (values.model !== undefined) {
      model = openModelForData(db, values.model, template);
      const maxTokens = parseIntOption('max-tokens', values['max-tokens'], model.tokenizer.contextLength ?? 4096, 1, 1 << 24);
      options.lengthCheck = contextLengthCheck(model.tokenizer, model.template, { modelId: model.modelId, maxTokens });
    }
    try {
      const { dataset, report } = importDataset(db, resolve(file), options);
      const seconds = (Date.now() - started) / 1000;
      const stats = model ? datasetTokenStats(db, dataset.id, model.tokenizer, model.template) : null;
      if (values.json) {
        io.out(JSON.stringify({ dataset: { ...dataset, report: undefined }, report, tokenStats: stats }, null, 2));
        return 0;
      }
      io.out(`imported dataset ${dataset.id} "${dataset.name}": ${dataset.rowCount} examples (${dataset.trainCount} train, ${dataset.valCount} validation) in ${seconds.toFixed(1)} s`);
      io.out(`format: ${report.format} in ${report.container}${report.mapping ? `, mapping ${JSON.stringify(report.mapping)}` : ''}`);
      if (report.duplicateRows > 0) io.out(`skipped ${report.duplicateRows} exact duplicates`);
      if (report.invalidRows > 0) {
        io.out(`skipped ${report.invalidRows} bad rows:`);
        for (const issue of report.issues.filter((i) => i.kind !== 'duplicate').slice(0, 10)) io.out('  ' + formatIssue(file, issue));
      }
      if (model && stats) {
        io.out(`template: ${model.template.name}`);
        printStats(io, stats, model.tokenizer.contextLength);
        const stop = templateStopToken(model.tokenizer, model.template);
        if (stop.id !== null && !stop.inModelStopList) {
          io.out(`note: responses end with ${stop.token} (${stop.id}), which the model's config does not list as a stop token; exports will add it`);
        }
      }
      return 0;
    } catch (err) {
      if (err instanceof ImportRejectedError) {
        io.err(err.message);
        io.err('nothing was imported; fix the rows, or pass --keep-valid to import the valid ones');
        return 1;
      }
      throw err;
    }
  });
}

function showCommand(args: string[], io: CliIo): number {
  const { values, positionals } = parseOptions(
    args,
    { rows: { type: 'string' }, model: { type: 'string' }, template: { type: 'string' }, json: { type: 'boolean' } },
    true,
  );
  const id = parseId(positionals[0], 'data show');
  const rows = parseIntOption('rows', values.rows, 3, 0, 1000);
  return withDb(io, (db) => {
    const dataset = getDataset(db, id);
    if (!dataset) throw new Error(`no dataset ${id} (see "tunesmith data list")`);
    const examples = listExamples(db, id, { limit: rows });
    const modelDir = values.model ?? (dataset.modelId !== null ? getModel(db, dataset.modelId)?.path : undefined);
    const templateName = parseTemplate(values.template) ?? (dataset.template as BuiltinTemplateName | 'model' | null) ?? undefined;
    const model = modelDir !== undefined ? openModelForData(db, modelDir, templateName) : undefined;
    const views = model ? examples.map((e) => templateExample(e.example, model.tokenizer, model.template)) : [];
    if (values.json) {
      io.out(JSON.stringify({ dataset, examples, templated: views.map((v) => ({ ids: v.ids, mask: v.mask, text: v.text })) }, null, 2));
      return 0;
    }
    io.out(summary(dataset));
    io.out(`source: ${dataset.sourcePath} (${formatBytes(dataset.sourceBytes)}), ${dataset.kind} examples, split seed ${dataset.splitSeed}, validation ${dataset.valFraction}`);
    io.out(`skipped at import: ${dataset.skippedInvalid} bad rows, ${dataset.skippedDuplicate} duplicates`);
    examples.forEach((e, i) => {
      io.out(`\n#${e.position} (line ${e.sourceLine}, ${e.split})`);
      if (e.example.kind === 'text') io.out(e.example.text);
      else for (const m of e.example.messages) io.out(`[${m.role}] ${m.content}`);
      const v = views[i];
      if (v && model) {
        const trained = v.mask.reduce((a, b) => a + b, 0);
        io.out(`-- ${model.template.name} template: ${v.ids.length} tokens, ${trained} trained (marked ^)`);
        io.out(v.ids.map((tok, k) => `${JSON.stringify(model.tokenizer.idToToken(tok) ?? '?')}${v.mask[k] ? '^' : ''}`).join(' '));
      }
    });
    if (model) {
      io.out('');
      printStats(io, datasetTokenStats(db, id, model.tokenizer, model.template), model.tokenizer.contextLength);
    }
    return 0;
  });
}

export const dataCommand: CliCommand = {
  name: 'data',
  summary: 'Import, list, show, export and remove datasets',
  help,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'import':
        return importCommand(rest, io);
      case 'list': {
        const { values } = parseOptions(rest, { json: { type: 'boolean' } });
        return withDb(io, (db) => {
          const all = listDatasets(db);
          if (values.json) io.out(JSON.stringify(all.map((d) => ({ ...d, report: undefined })), null, 2));
          else if (all.length === 0) io.out('no datasets yet ("tunesmith data import FILE")');
          else {
            io.out(['  id', 'examples', 'train/val    ', 'format           ', 'file ', 'name'].join('  '));
            for (const d of all) io.out(summary(d));
          }
          return 0;
        });
      }
      case 'show':
        return showCommand(rest, io);
      case 'export': {
        const { values, positionals } = parseOptions(rest, { format: { type: 'string' }, out: { type: 'string' }, split: { type: 'string' } }, true);
        const id = parseId(positionals[0], 'data export');
        if ((values.format ?? 'jsonl') !== 'jsonl') throw new UsageError(`data export writes --format jsonl only, got "${values.format}"`);
        if (values.split !== undefined && values.split !== 'train' && values.split !== 'val') throw new UsageError(`--split must be train or val, got "${values.split}"`);
        const split = values.split as 'train' | 'val' | undefined;
        if (values.out !== undefined) checkWritableFile(resolve(values.out));
        return withDb(io, (db) => {
          if (!getDataset(db, id)) throw new Error(`no dataset ${id} (see "tunesmith data list")`);
          if (values.out === undefined) writeDatasetJsonl(db, id, 1, { split });
          else io.out(`wrote ${exportDatasetJsonl(db, id, resolve(values.out), { split })} rows to ${values.out}`);
          return 0;
        });
      }
      case 'rm': {
        const { positionals } = parseOptions(rest, {}, true);
        const id = parseId(positionals[0], 'data rm');
        return withDb(io, (db) => {
          if (!removeDataset(db, id)) throw new Error(`no dataset ${id} (see "tunesmith data list")`);
          io.out(`removed dataset ${id}`);
          return 0;
        });
      }
      default:
        throw new UsageError(`data needs a subcommand: import, list, show, export or rm (got "${sub ?? ''}")`);
    }
  },
};
