/**
 * Forward-only schema migrations. Entry N brings the file from version N to N+1; never edit an
 * entry that has shipped, append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the seed's five VO tables, verbatim (../shared/seeds/001), and the history.
  `
  CREATE TABLE IF NOT EXISTS vo_status (
    id INTEGER PRIMARY KEY,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
    status INTEGER
  );
  CREATE TABLE IF NOT EXISTS device_status (
    id INTEGER PRIMARY KEY,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
    status INTEGER
  );
  CREATE TABLE IF NOT EXISTS observer (
    id INTEGER PRIMARY KEY,
    ip TEXT
  );
  CREATE TABLE IF NOT EXISTS redirect_ip (
    id INTEGER PRIMARY KEY,
    ip TEXT
  );
  CREATE TABLE IF NOT EXISTS info (
    id INTEGER PRIMARY KEY,
    device_ip TEXT
  );

  CREATE TABLE wotvo_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  CREATE TABLE wotvo_series (
    id INTEGER PRIMARY KEY,
    thing_id TEXT NOT NULL,
    thing_title TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (thing_id, kind, name)
  );

  CREATE TABLE wotvo_history (
    id INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL, -- wotvo_series.id; no REFERENCES: a lookup per insert for ids the store itself assigns
    ts INTEGER NOT NULL,
    ts_sub INTEGER NOT NULL,
    op TEXT NOT NULL,
    ok INTEGER NOT NULL,
    value TEXT,
    output TEXT,
    error TEXT,
    duration_ms REAL,
    source TEXT NOT NULL
  );
  CREATE INDEX wotvo_history_series_time ON wotvo_history (series_id, ts, ts_sub);
  `,
  // 2: InfluxDB shipping: dead letters (points the server rejected as malformed, with its reason),
  // the last known data schema of each affordance (stable field types across restarts), and the
  // field types decided once per vo-wot measurement (the vo-wot layout has no type in field names).
  `
  CREATE TABLE wotvo_influx_deadletter (
    id INTEGER PRIMARY KEY,
    history_id INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    line TEXT NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE TABLE wotvo_influx_schema (
    thing_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    schema TEXT NOT NULL,
    PRIMARY KEY (thing_id, kind, name)
  );
  CREATE TABLE wotvo_influx_field (
    bucket TEXT NOT NULL,
    measurement TEXT NOT NULL,
    field TEXT NOT NULL,
    type TEXT NOT NULL,
    PRIMARY KEY (bucket, measurement, field)
  );
  `,
  // 3: history ids grow for the life of the file (AUTOINCREMENT), so the outbox cursor never
  // points at a reused id even after the table was emptied. Rebuild keeps every row, id and index;
  // the sequence starts above the shipper's cursor too, in case the table was emptied before.
  `
  CREATE TABLE wotvo_history_v3 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    series_id INTEGER NOT NULL, -- wotvo_series.id; no REFERENCES: a lookup per insert for ids the store itself assigns
    ts INTEGER NOT NULL,
    ts_sub INTEGER NOT NULL,
    op TEXT NOT NULL,
    ok INTEGER NOT NULL,
    value TEXT,
    output TEXT,
    error TEXT,
    duration_ms REAL,
    source TEXT NOT NULL
  );
  INSERT INTO wotvo_history_v3 (id, series_id, ts, ts_sub, op, ok, value, output, error, duration_ms, source)
    SELECT id, series_id, ts, ts_sub, op, ok, value, output, error, duration_ms, source
    FROM wotvo_history ORDER BY id;
  DROP TABLE wotvo_history;
  ALTER TABLE wotvo_history_v3 RENAME TO wotvo_history;
  CREATE INDEX wotvo_history_series_time ON wotvo_history (series_id, ts, ts_sub);
  DELETE FROM sqlite_sequence WHERE name IN ('wotvo_history', 'wotvo_history_v3');
  INSERT INTO sqlite_sequence (name, seq) VALUES ('wotvo_history', MAX(
    COALESCE((SELECT MAX(id) FROM wotvo_history), 0),
    COALESCE((SELECT CAST(value AS INTEGER) FROM wotvo_meta WHERE key = 'influx.cursor'), 0)
  ));
  `,
];
