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
  {
    version: 2,
    name: 'models, datasets, examples, checkpoints, adapters, exports',
    up: `
      -- A model folder the user pointed at (Hugging Face layout). Weights stay on disk; we record where.
      CREATE TABLE models (
        id          INTEGER PRIMARY KEY,
        path        TEXT    NOT NULL UNIQUE,
        name        TEXT    NOT NULL,
        config_json TEXT    NOT NULL,              -- config.json as read
        hash        TEXT,                          -- of config + tokenizer files, to notice a changed folder
        created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      );

      CREATE TABLE datasets (
        id              INTEGER PRIMARY KEY,
        name            TEXT    NOT NULL,
        source_path     TEXT    NOT NULL,
        source_bytes    INTEGER NOT NULL,
        container       TEXT    NOT NULL CHECK (container IN ('json', 'jsonl', 'csv', 'tsv', 'txt')),
        format          TEXT    NOT NULL,          -- alpaca, sharegpt, openai, prompt-completion, text, fields
        kind            TEXT    NOT NULL CHECK (kind IN ('chat', 'text')),
        mapping_json    TEXT,                      -- column / field mapping used, when there was one
        model_id        INTEGER REFERENCES models (id) ON DELETE SET NULL,
        template        TEXT,                      -- chat template chosen with the model: model, chatml, ...
        row_count       INTEGER NOT NULL,          -- examples stored
        train_count     INTEGER NOT NULL,
        val_count       INTEGER NOT NULL,
        skipped_invalid INTEGER NOT NULL DEFAULT 0,
        skipped_duplicate INTEGER NOT NULL DEFAULT 0,
        split_seed      INTEGER NOT NULL,
        val_fraction    REAL    NOT NULL,
        report_json     TEXT,                      -- the validation report shown at import
        created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      );

      -- One normalised example: chat messages (JSON list of {role, content}) or raw text.
      CREATE TABLE examples (
        id            INTEGER PRIMARY KEY,
        dataset_id    INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
        position      INTEGER NOT NULL,            -- order in the source file, from 0
        source_line   INTEGER NOT NULL,            -- 1-based line where the row starts
        messages_json TEXT,                        -- chat examples
        text          TEXT,                        -- pretraining examples
        content_hash  TEXT    NOT NULL,            -- sha256 of the normalised content: duplicate detection
        split         TEXT    NOT NULL CHECK (split IN ('train', 'val')),
        total_tokens  INTEGER,                     -- templated length for datasets tied to a model
        CHECK ((messages_json IS NULL) <> (text IS NULL)),
        UNIQUE (dataset_id, position)
      );
      CREATE INDEX examples_by_split ON examples (dataset_id, split, position);

      ALTER TABLE runs ADD COLUMN method TEXT;      -- lisa, qlora, lora, full, zo
      ALTER TABLE runs ADD COLUMN model_id INTEGER REFERENCES models (id) ON DELETE SET NULL;
      ALTER TABLE runs ADD COLUMN dataset_id INTEGER REFERENCES datasets (id) ON DELETE SET NULL;

      CREATE TABLE checkpoints (
        id         INTEGER PRIMARY KEY,
        run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step       INTEGER NOT NULL,
        path       TEXT    NOT NULL,               -- folder on disk; large state stays out of the database
        bytes      INTEGER,
        created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (run_id, step)
      );

      -- A trained LoRA adapter. Its tensors live in adapter_tensors, one blob per tensor, so a large
      -- adapter never needs one giant blob and a single tensor can be read alone.
      CREATE TABLE adapters (
        id          INTEGER PRIMARY KEY,
        run_id      INTEGER REFERENCES runs (id) ON DELETE SET NULL,
        model_id    INTEGER REFERENCES models (id) ON DELETE SET NULL,
        name        TEXT    NOT NULL,
        config_json TEXT    NOT NULL,              -- PEFT-style adapter_config: r, alpha, targets, ...
        created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      );
      CREATE TABLE adapter_tensors (
        adapter_id INTEGER NOT NULL REFERENCES adapters (id) ON DELETE CASCADE,
        name       TEXT    NOT NULL,               -- e.g. base_model.model.layers.0.self_attn.q_proj.lora_A.weight
        dtype      TEXT    NOT NULL,               -- F32, BF16, F16
        shape_json TEXT    NOT NULL,
        data       BLOB    NOT NULL,               -- little-endian, row-major
        PRIMARY KEY (adapter_id, name)
      );

      CREATE TABLE exports (
        id          INTEGER PRIMARY KEY,
        run_id      INTEGER REFERENCES runs (id) ON DELETE SET NULL,
        adapter_id  INTEGER REFERENCES adapters (id) ON DELETE SET NULL,
        format      TEXT    NOT NULL,              -- hf, gguf, ollama, adapter
        path        TEXT    NOT NULL,
        bytes       INTEGER,
        detail_json TEXT,                          -- quantisation, stop tokens written, ...
        created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      );
    `,
  },
  {
    version: 3,
    name: 'run owners',
    up: `
      -- The process that supervises a queued or running run (its trainer process dies with it). A run
      -- is only declared abandoned once this process is gone; see main/system/process-identity.ts.
      ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
      ALTER TABLE runs ADD COLUMN owner_started TEXT; -- when that process started (null: unknown on this OS)
    `,
  },
  {
    version: 4,
    name: 'datasets imported in stages',
    up: `
      -- An import writes its examples in many short transactions under a dataset that stays
      -- 'importing' (and invisible to every reader) until one last short transaction makes it
      -- 'ready'. import_pid names the process writing it and import_heartbeat_at is renewed with
      -- every batch, so the leftovers of an import whose process died (or whose process id was
      -- reused since) can be told from one still going and removed.
      ALTER TABLE datasets ADD COLUMN state TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('importing', 'ready'));
      ALTER TABLE datasets ADD COLUMN import_pid INTEGER;
      ALTER TABLE datasets ADD COLUMN import_heartbeat_at TEXT;
    `,
  },
];
