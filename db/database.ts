// Opens the app's SQLite database: WAL (readers never block the writer, a crash loses at most the
// last uncommitted transaction), foreign keys on, every pending migration applied, and the staged
// rows of any import whose process died removed.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { removeAbandonedImports } from './dataset-imports.js';
import { migrations as allMigrations, type Migration } from './migrations.js';

export type Db = Database.Database;

export function openDatabase(file: string, migrations: Migration[] = allMigrations): Db {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
    migrate(db, migrations);
    // Only the app's own schema has imports to clean up (tests may open others).
    if (migrations === allMigrations) removeAbandonedImports(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** The highest applied migration, 0 for a new database. */
export function schemaVersion(db: Db): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Applies, in order, each migration newer than the database. Each one runs in its own transaction
 * together with its schema_version row, so a crash mid-migration leaves the previous version intact.
 * A database written by a newer Tunesmith is refused rather than silently misread.
 */
export function migrate(db: Db, migrations: Migration[]): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  )`);
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  ordered.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations must be numbered 1, 2, 3, ...: found version ${m.version} at position ${i + 1}`);
  });
  const current = schemaVersion(db);
  const newest = ordered.length;
  if (current > newest) {
    throw new Error(`database ${db.name} has schema version ${current}, newer than this Tunesmith knows (${newest}); update Tunesmith`);
  }
  const record = db.prepare('INSERT INTO schema_version (version, name) VALUES (?, ?)');
  for (const m of ordered.slice(current)) {
    db.transaction(() => {
      db.exec(m.up);
      record.run(m.version, m.name);
    })();
  }
  return schemaVersion(db);
}
