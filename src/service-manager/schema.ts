/**
 * Forward-only migrations of the service-manager file, under `PRAGMA user_version`. Entry N
 * brings the file from version N to N+1, in one transaction with its version bump. Never edit an
 * entry that has shipped (test/sm-migration.test.js keeps a frozen copy of version 1): append.
 */
export const SM_MIGRATIONS: readonly string[] = [
  // 1: the seed's five tables (../shared/seeds/000), every column, in the seed's order, with the
  // seed's keys. `serviceProvider` is the original code's column: the seed's "serviceProvide" is a
  // typo. The config table holds one row; `version` NULL means "never set" (a fresh file), so the
  // first start does not mistake it for a mismatch.
  `
  CREATE TABLE IF NOT EXISTS config (
    version INTEGER,
    cursor TEXT
  );
  INSERT INTO config (version, cursor) SELECT NULL, '' WHERE NOT EXISTS (SELECT 1 FROM config);

  CREATE TABLE IF NOT EXISTS services (
    id TEXT NOT NULL PRIMARY KEY,
    version INTEGER,
    serviceProvider TEXT,
    path TEXT,
    unit TEXT,
    user TEXT,
    hostname TEXT,
    permissions TEXT,
    state INTEGER,
    status INTEGER,
    startat TIMESTAMP,
    ttl INTEGER,
    alertRules TEXT,
    ulLimit INTEGER,
    dlLimit INTEGER,
    ulSpeed INTEGER,
    dlSpeed INTEGER,
    storageLimit INTEGER,
    stateLimit INTEGER,
    layerList TEXT,
    deviceResources TEXT
  );

  CREATE TABLE IF NOT EXISTS users (
    users TEXT NOT NULL,
    serviceid TEXT NOT NULL,
    storageFolder TEXT,
    stateCheckSum BLOB,
    PRIMARY KEY (users, serviceid)
  );

  CREATE TABLE IF NOT EXISTS trafficmonitor (
    chain TEXT NOT NULL PRIMARY KEY,
    time TIMESTAMP,
    value INTEGER
  );

  CREATE TABLE IF NOT EXISTS layers (
    digest TEXT NOT NULL PRIMARY KEY,
    layerId TEXT,
    path TEXT,
    osVersion TEXT
  );
  `,
  // 2: the message that goes with status "error" (the seed's status is an INTEGER only), in a
  // companion table so the seed's tables stay exactly as the seed gives them; removed with its
  // service. Indexes for the lookups by unit, by provider and by service id in users.
  `
  CREATE TABLE service_status_messages (
    id TEXT NOT NULL PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    message TEXT NOT NULL
  );
  CREATE INDEX services_unit ON services (unit);
  CREATE INDEX services_service_provider ON services (serviceProvider);
  CREATE INDEX users_serviceid ON users (serviceid);
  `,
];

/** The schema version this code writes. */
export const SM_SCHEMA_VERSION = SM_MIGRATIONS.length;
