// A 200k-row file: imported in reasonable time with progress, and a child process killed in the
// middle of importing it leaves nothing visible; its staged rows are gone once the database is
// opened again.
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../db/database.js';
import { countExamples, listExamples } from '../../../db/examples.js';
import { listDatasets } from '../../../db/datasets.js';
import { importDataset, type ImportProgress } from '../../../main/data/import-dataset.js';
import { packagePath } from '../../../main/paths.js';
import { tempHome } from '../../helpers/temp-home.js';

const ROWS = 200_000;
const home = tempHome();
const bigFile = join(home.dir, 'big.jsonl');

async function writeBigFile(): Promise<void> {
  const out = createWriteStream(bigFile);
  let chunk = '';
  for (let i = 0; i < ROWS; i++) {
    const row = {
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: `Question ${i}: what is ${i} plus ${i % 97}? Explain briefly, please.` },
        { role: 'assistant', content: `${i} plus ${i % 97} is ${i + (i % 97)}. Adding the two numbers gives the answer.` },
      ],
    };
    chunk += JSON.stringify(row) + '\n';
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
      chunk = '';
    }
  }
  out.write(chunk);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

beforeAll(async () => {
  await writeBigFile();
  // The kill test runs the real CLI from dist/, like a user would: build it first.
  const build = spawnSync(process.execPath, [packagePath('node_modules', 'typescript', 'bin', 'tsc'), '-p', packagePath('tsconfig.json')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`tsc build failed:\n${build.stdout}${build.stderr}`);
}, 180_000);
afterAll(() => home.cleanup());

describe('large imports', () => {
  it(`imports ${ROWS.toLocaleString('en')} JSONL rows, reporting progress`, () => {
    const db = openDatabase(join(home.dir, 'perf.db'));
    const progress: ImportProgress[] = [];
    const started = performance.now();
    const { dataset } = importDataset(db, bigFile, { onProgress: (p) => progress.push(p), progressIntervalMs: 100 });
    const seconds = (performance.now() - started) / 1000;
    console.log(`imported ${ROWS} rows in ${seconds.toFixed(1)} s (${Math.round(ROWS / seconds)} rows/s)`);
    expect(dataset).toMatchObject({ rowCount: ROWS, trainCount: ROWS - ROWS / 10, valCount: ROWS / 10, format: 'openai' });
    expect(countExamples(db, dataset.id, 'val')).toBe(ROWS / 10);
    expect(progress.length).toBeGreaterThan(1);
    const last = progress[progress.length - 1]!;
    expect(last.rowsRead).toBe(ROWS);
    expect(last.bytesRead).toBe(last.totalBytes);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.bytesRead).toBeGreaterThanOrEqual(progress[i - 1]!.bytesRead);
    const row = listExamples(db, dataset.id, { offset: ROWS - 1, limit: 1 })[0]!;
    expect(row.example.kind === 'chat' && row.example.messages[1]!.content).toBe(`Question ${ROWS - 1}: what is ${ROWS - 1} plus ${(ROWS - 1) % 97}? Explain briefly, please.`);
    expect(seconds).toBeLessThan(120);
    db.close();
  }, 180_000);

  it('a process killed mid-import leaves no dataset and an intact database, and its staged rows go on the next open', async () => {
    const home2 = join(home.dir, 'killed');
    const dbFile = join(home2, 'tunesmith.db');
    // A dataset from before the crash, which must survive it.
    const setup = openDatabase(dbFile);
    importDataset(setup, join(packagePath('test', 'unit', 'data'), 'assets.ts'), { container: 'txt' });
    setup.close();

    const child = spawn(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', home2, 'data', 'import', bigFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const killedAfter = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (d: string) => {
        stderr += d;
        // Kill once a good part of the file is in (pages spilled to the WAL), well before the end.
        const m = [...stderr.matchAll(/progress: (\d+) rows/g)].pop();
        if (m && Number(m[1]) >= ROWS / 4 && !child.killed) {
          child.kill('SIGKILL');
          resolve(m[0]);
        }
      });
      child.on('exit', (code) => reject(new Error(`the import finished (exit ${code}) before it could be killed:\n${stderr}`)));
    });
    await new Promise((r) => child.once('close', r));
    expect(child.signalCode).toBe('SIGKILL');
    expect(killedAfter).toMatch(/progress: \d+ rows/);
    expect(statSync(`${dbFile}-wal`).size).toBeGreaterThan(0);
    // The child had committed staged rows: the import really was under way, and nothing shows it.
    const raw = new Database(dbFile);
    expect(raw.prepare(`SELECT COUNT(*) FROM examples JOIN datasets ON datasets.id = dataset_id WHERE state = 'importing'`).pluck().get()).toBeGreaterThan(0);
    expect(listDatasets(raw).map((d) => d.format)).toEqual(['text']);
    raw.close();

    const db = openDatabase(dbFile);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(listDatasets(db).map((d) => d.format)).toEqual(['text']);
    expect((db.prepare('SELECT COUNT(*) AS n FROM examples WHERE dataset_id <> ?').get(listDatasets(db)[0]!.id) as { n: number }).n).toBe(0);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    db.close();
  }, 120_000);
});
