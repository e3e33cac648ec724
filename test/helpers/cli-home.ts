// The CLI as the tests run it: `bin/tunesmith.js` in a child process on a test's own home folder,
// and the metrics a run recorded there.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { openDatabase } from '../../db/database.js';
import { listMetrics } from '../../db/metrics.js';
import { packagePath } from '../../main/paths.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tunesmith --home HOME ARGS…` and waits for it. */
export function runCli(home: string, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', home, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The loss each step of a run recorded in HOME's database. */
export function lossesByStep(home: string, runId: number): Map<number, number> {
  const db = openDatabase(join(home, 'tunesmith.db'));
  try {
    return new Map(listMetrics(db, runId).map((m) => [m.step, m.loss!]));
  } finally {
    db.close();
  }
}
