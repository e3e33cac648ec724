// Repository for per-step metrics. Written as a run goes (one small transaction per row), so a
// chart can be rebuilt from the database after a renderer reload or a crash.
import type { Db } from './database.js';

export interface MetricRow {
  step: number;
  loss?: number | null;
  evalLoss?: number | null;
  lr?: number | null;
  tokensPerS?: number | null;
  memBytes?: number | null;
}

export function recordMetric(db: Db, runId: number, m: MetricRow): void {
  db.prepare(
    `INSERT INTO metrics (run_id, step, loss, eval_loss, lr, tokens_per_s, mem_bytes)
     VALUES (@runId, @step, @loss, @evalLoss, @lr, @tokensPerS, @memBytes)
     ON CONFLICT (run_id, step) DO UPDATE SET
       loss = COALESCE(excluded.loss, loss), eval_loss = COALESCE(excluded.eval_loss, eval_loss),
       lr = COALESCE(excluded.lr, lr), tokens_per_s = COALESCE(excluded.tokens_per_s, tokens_per_s),
       mem_bytes = COALESCE(excluded.mem_bytes, mem_bytes)`,
  ).run({
    runId,
    step: m.step,
    loss: m.loss ?? null,
    evalLoss: m.evalLoss ?? null,
    lr: m.lr ?? null,
    tokensPerS: m.tokensPerS ?? null,
    memBytes: m.memBytes ?? null,
  });
}

export function listMetrics(db: Db, runId: number): MetricRow[] {
  return db
    .prepare(
      `SELECT step, loss, eval_loss AS evalLoss, lr, tokens_per_s AS tokensPerS, mem_bytes AS memBytes
       FROM metrics WHERE run_id = ? ORDER BY step`,
    )
    .all(runId) as MetricRow[];
}
