// One home, three things at once, as a user would run them: `tunesmith serve` trains a model
// (through its HTTP API and job service) while the CLI imports a 500,000-row file and the API
// imports another through its worker. Everything finishes, every metric of the run is recorded, no
// reader ever sees a half-imported dataset, and the API answers a probe every ~50 ms within 200 ms.
//
// Latency on a shared machine also depends on what else runs there: when other work keeps even an
// idle process from being scheduled (an idle control process's timers fire late), no code in the
// app can answer in time, so there the bound applies to 99% of the probes and the slowest must
// stay under a second (an import that holds the lock would show as seconds and errors).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { ApiReply, Dataset, Run } from '../../../main/api/contract.js';
import { packagePath } from '../../../main/paths.js';
import { startServe, type ServeProcess } from '../../e2e/serve-process.js';
import { haveAssets, stories260K } from '../../helpers/assets.js';
import { tempHome } from '../../helpers/temp-home.js';

const CLI_ROWS = 500_000;
const API_ROWS = 100_000;
const STEPS = 40;
const PROBE_EVERY_MS = 50;
const PROBE_LIMIT_MS = 200;
/** An idle process whose timers fire later than this is on a machine too busy for the strict bound. */
const QUIET_MACHINE_MS = 50;

/**
 * An idle process that times its own 10 ms timers until its stdin closes, then prints the worst
 * lateness: how long the machine kept a process that needed almost no CPU from running.
 */
function startSchedulingControl(): { worstLatenessMs(): Promise<number> } {
  const script = `let worst = 0; let due = performance.now() + 10;
    const tick = () => { worst = Math.max(worst, performance.now() - due); due = performance.now() + 10; timer = setTimeout(tick, 10); };
    let timer = setTimeout(tick, 10);
    process.stdin.resume().on('end', () => { clearTimeout(timer); process.stdout.write(String(worst)); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  return {
    worstLatenessMs: () =>
      new Promise((resolve) => {
        child.once('close', () => resolve(Number(out)));
        child.stdin.end();
      }),
  };
}

/** Small prompt/completion rows, each one different, so the test measures locking, not parsing. */
async function writeRows(file: string, rows: number, tag: string): Promise<void> {
  const out = createWriteStream(file);
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    chunk += `{"prompt":"${tag}${i}","completion":"${i}"}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      chunk = '';
    }
  }
  out.write(chunk);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

describe.skipIf(!haveAssets)('training while large imports run (serve mode and the CLI on one home)', () => {
  const home = tempHome();
  let serve: ServeProcess;

  const call = <T>(method: string, params: unknown = {}): Promise<T> =>
    new Promise((resolve, reject) => {
      const req = request(`${serve.origin}/api/${method}`, { method: 'POST', headers: { authorization: `Bearer ${serve.token}`, 'content-type': 'application/json' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          const reply = JSON.parse(body) as ApiReply;
          if (reply.ok) resolve(reply.result as T);
          else reject(new Error(`${method}: ${reply.error.code}: ${reply.error.message}`));
        });
      });
      req.on('error', reject);
      req.end(JSON.stringify(params));
    });

  beforeAll(async () => {
    serve = await startServe(home.dir);
  });
  afterAll(async () => {
    await serve?.stop();
    home.cleanup();
  });

  it(`trains ${STEPS} steps while ${CLI_ROWS.toLocaleString('en')} rows come in through the CLI and ${API_ROWS.toLocaleString('en')} through the API; the API answers every probe within ${PROBE_LIMIT_MS} ms`, async () => {
    const cliFile = join(home.dir, 'cli-rows.jsonl');
    const apiFile = join(home.dir, 'api-rows.jsonl');
    const trainFile = join(home.dir, 'stories.jsonl');
    await writeRows(cliFile, CLI_ROWS, 'c');
    await writeRows(apiFile, API_ROWS, 'a');
    await writeRows(trainFile, 32, 'Once upon a time, story ');
    const training = (await call<{ dataset: Dataset }>('data.import', { file: trainFile, model: stories260K })).dataset;

    // The probe: a cheap API call every ~50 ms, timed from request to reply. It also checks that no
    // listed dataset is partial.
    const latencies: number[] = [];
    const probeErrors: string[] = [];
    const partial: string[] = [];
    const expectedRows: Record<string, number> = { [trainFile]: training.rowCount, [cliFile]: CLI_ROWS, [apiFile]: API_ROWS };
    let probing = true;
    const control = startSchedulingControl();
    const probe = (async () => {
      while (probing) {
        const sent = performance.now();
        try {
          const { datasets } = await call<{ datasets: Dataset[] }>('datasets.list');
          latencies.push(performance.now() - sent);
          for (const d of datasets) if (d.rowCount !== expectedRows[d.sourcePath]) partial.push(`${d.sourcePath}: ${d.rowCount} rows`);
        } catch (err) {
          probeErrors.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
      }
    })();
    // Whatever fails below, the probe stops with the test.
    onTestFinished(() => {
      probing = false;
    });

    const started = performance.now();
    const cli = spawn(process.execPath, [packagePath('bin', 'tunesmith.js'), '--home', home.dir, 'data', 'import', cliFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let cliOut = '';
    cli.stdout.setEncoding('utf8').on('data', (d: string) => (cliOut += d));
    cli.stderr.setEncoding('utf8').on('data', (d: string) => (cliOut += d));
    const cliDone = new Promise<{ code: number | null; at: number }>((resolve) => cli.on('close', (code) => resolve({ code, at: performance.now() })));
    // Start the rest once the CLI's import is well under way (rows staged, the lock in use).
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        const m = [...cliOut.matchAll(/progress: (\d+) rows/g)].pop();
        if (m && Number(m[1]) >= CLI_ROWS / 10) resolve();
        else if (cli.exitCode !== null) reject(new Error(`the CLI import ended before the test got going:\n${cliOut}`));
        else setTimeout(check, 20);
      };
      check();
    });
    const apiImport = call<{ outcome: string; dataset: Dataset }>('data.import', { file: apiFile }).then(
      (r) => ({ ...r, at: performance.now() }),
      (err: Error) => ({ outcome: err.message, at: performance.now() }),
    );
    const { run } = await call<{ run: Run }>('jobs.start', {
      spec: { kind: 'train', method: 'lora', model: stories260K, datasetId: training.id, out: join(home.dir, 'runs', 'lora'), steps: STEPS, lr: 0.01, seqLen: 64, checkpointEvery: 0, threads: 1 },
    });
    let trained: { run: Run; metrics: { step: number }[] };
    for (;;) {
      trained = await call<{ run: Run; metrics: { step: number }[] }>('runs.get', { id: run.id });
      if (!['queued', 'running'].includes(trained.run.state)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const trainedAt = performance.now();
    const [cliEnd, apiEnd] = await Promise.all([cliDone, apiImport]);
    probing = false;
    await probe;
    const machineStall = await control.worstLatenessMs();

    const sorted = [...latencies].sort((a, b) => a - b);
    const worst = sorted.at(-1)!;
    const p99 = sorted[Math.floor(sorted.length * 0.99)]!;
    console.log(
      `training ended after ${((trainedAt - started) / 1000).toFixed(1)} s, API import after ${((apiEnd.at - started) / 1000).toFixed(1)} s, ` +
        `CLI import after ${((cliEnd.at - started) / 1000).toFixed(1)} s; ${latencies.length} probes: median ${sorted[sorted.length >> 1]!.toFixed(0)} ms, ` +
        `99th percentile ${p99.toFixed(0)} ms, slowest ${worst.toFixed(0)} ms; an idle process was kept waiting up to ${machineStall.toFixed(0)} ms`,
    );
    expect(cliEnd.code, cliOut).toBe(0);
    expect(cliOut).toContain(`${CLI_ROWS} examples`);
    expect(apiEnd).toMatchObject({ outcome: 'imported', dataset: { rowCount: API_ROWS } });
    expect(trained.run.state, trained.run.error ?? '').toBe('succeeded');
    expect(trained.metrics.map((m) => m.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    // The training really ran under contention: it ended while the CLI was still importing.
    expect(trainedAt).toBeLessThan(cliEnd.at);
    expect(probeErrors).toEqual([]);
    expect(partial).toEqual([]);
    expect(latencies.length).toBeGreaterThan(((cliEnd.at - started) / PROBE_EVERY_MS) * 0.5);
    if (machineStall < QUIET_MACHINE_MS) expect(worst).toBeLessThan(PROBE_LIMIT_MS);
    else {
      expect(p99).toBeLessThan(PROBE_LIMIT_MS);
      expect(worst).toBeLessThan(1000);
    }
    const { datasets } = await call<{ datasets: Dataset[] }>('datasets.list');
    expect(datasets.map((d) => d.rowCount).sort((a, b) => a - b)).toEqual([training.rowCount, API_ROWS, CLI_ROWS]);
    expect(serve.output()).not.toMatch(/database is locked|could not record/);
  }, 180_000);
});
