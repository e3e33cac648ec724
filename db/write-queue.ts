// Short writes that must land even while another connection (a CLI import, an import worker, a
// second app on the same home) holds the database's write lock: a running job's metrics, its end
// state, its recorded export. They go through one ordered queue per connection. A write that
// meets SQLITE_BUSY does not wait for the lock on the thread (SQLite's busy handler sleeps, and on
// the app's thread that would stall every request); it is retried from a timer, in order, until it
// lands or a long deadline passes; then the caller is told, never thrown at. Nothing queued can
// take the process down.
import type { Db } from './database.js';

/** SQLITE_BUSY and its extended codes: another connection holds the lock; trying later may work. */
export function isBusyError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

export interface WriteQueueOptions {
  /** How long one attempt may block the thread waiting for the lock (default 0: not at all). */
  attemptWaitMs?: number;
  /** Pause between attempts once one has met a held lock (default 10 ms). */
  retryDelayMs?: number;
  /** How long a write may keep meeting a held lock before it is given up (default 2 minutes). */
  giveUpAfterMs?: number;
}

/** Written, or failed for good: busy past the deadline, or any other error (a constraint, a closed database). */
export type WriteOutcome = { written: true } | { written: false; error: Error };

interface PendingWrite {
  what: string;
  write: () => void;
  settle: (outcome: WriteOutcome) => void;
  firstTriedAt: number | null;
}

export class WriteQueue {
  private readonly pending: PendingWrite[] = [];
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly options: WriteQueueOptions = {},
  ) {}

  /**
   * Writes now when nothing is waiting, else after everything queued before it. `what` names the
   * write in the error of one that failed. Never rejects.
   */
  write(what: string, write: () => void): Promise<WriteOutcome> {
    return new Promise((settle) => {
      this.pending.push({ what, write, settle, firstTriedAt: null });
      if (this.pending.length === 1) this.flush();
    });
  }

  /** Resolves once every write queued so far has been written or given up. */
  drained(): Promise<void> {
    if (this.pending.length === 0) return Promise.resolve();
    return this.write('(drain)', () => {}).then(() => undefined);
  }

  /** Stops retrying; what is still queued settles as not written. */
  close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const p of this.pending.splice(0)) p.settle({ written: false, error: new Error(`the database ${this.db.name} was closed before ${p.what} could be written`) });
  }

  private flush(): void {
    this.retryTimer = null;
    while (this.pending.length > 0) {
      const next = this.pending[0]!;
      let outcome = this.attempt(next);
      if (outcome === 'busy') {
        const waited = Date.now() - next.firstTriedAt!;
        if (waited < (this.options.giveUpAfterMs ?? 120_000)) {
          this.retryTimer = setTimeout(() => this.flush(), this.options.retryDelayMs ?? 10);
          return;
        }
        outcome = {
          written: false,
          error: new Error(`the database ${this.db.name} stayed locked by another connection for ${Math.round(waited / 1000)} s; gave up writing ${next.what}`),
        };
      }
      this.pending.shift();
      next.settle(outcome);
    }
  }

  private attempt(p: PendingWrite): WriteOutcome | 'busy' {
    p.firstTriedAt ??= Date.now();
    if (!this.db.open) return { written: false, error: new Error(`the database ${this.db.name} was closed before ${p.what} could be written`) };
    const usualWait = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma(`busy_timeout = ${this.options.attemptWaitMs ?? 0}`);
    try {
      p.write();
      return { written: true };
    } catch (err) {
      if (isBusyError(err)) return 'busy';
      return { written: false, error: err instanceof Error ? err : new Error(String(err)) };
    } finally {
      this.db.pragma(`busy_timeout = ${usualWait}`);
    }
  }
}
