// Schema history. Each migration runs once, in order, inside a transaction; an applied migration is
// never edited: change the schema by appending a new one.
export interface Migration {
  version: number;
  name: string;
  up: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'runs and metrics',
    up: `
      CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        kind        TEXT    NOT NULL,              -- job type: selftest, system, train, ...
        name        TEXT    NOT NULL,
        spec_json   TEXT    NOT NULL,              -- the job spec as started
        state       TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        error       TEXT,                          -- why it failed, in words a person can act on
        result_json TEXT,
        created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        started_at  TEXT,
        ended_at    TEXT
      );
      CREATE INDEX runs_by_state ON runs (state);

      -- One row per logged step; written as training goes so a chart can be rebuilt after a crash.
      CREATE TABLE metrics (
        run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step         INTEGER NOT NULL,
        loss         REAL,
        eval_loss    REAL,
        lr           REAL,
        tokens_per_s REAL,
        mem_bytes    REAL,
        created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (run_id, step)
      );
    `,
  },
];
