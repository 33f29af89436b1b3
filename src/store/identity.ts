/**
 * Adopting history recorded under a thing's earlier, random ids. Before node-wot-vo derived stable
 * ids (src/node-wot/thing-id.ts), a thing without an id was recorded under a new `urn:uuid:…` at
 * every start. When such a thing is added again under its derived id, its earlier series (same
 * title, a `urn:uuid:` id) are moved to the new id, so its whole history is reachable again. Runs
 * once per thing per file: afterwards no `urn:uuid:` series of that title is left.
 */
import type Database from "better-sqlite3";

export interface AdoptResult {
  /** Series renamed to the new id. */
  renamed: number;
  /** Series whose rows were merged into an existing series of the new id. */
  merged: number;
  /** History rows that moved between series. */
  rowsMoved: number;
}

interface SeriesRow {
  id: number;
  kind: string;
  name: string;
}

export function adoptLegacySeries(db: Database.Database, title: string, thingId: string): AdoptResult {
  const result: AdoptResult = { renamed: 0, merged: 0, rowsMoved: 0 };
  const legacy = db
    .prepare(
      "SELECT id, kind, name FROM wotvo_series WHERE thing_title = ? AND thing_id LIKE 'urn:uuid:%' ORDER BY id",
    )
    .all(title) as SeriesRow[];
  if (legacy.length === 0) return result;
  const target = db.prepare("SELECT id FROM wotvo_series WHERE thing_id = ? AND kind = ? AND name = ?");
  const rename = db.prepare("UPDATE wotvo_series SET thing_id = ? WHERE id = ?");
  const move = db.prepare("UPDATE wotvo_history SET series_id = ? WHERE series_id = ?");
  const drop = db.prepare("DELETE FROM wotvo_series WHERE id = ?");
  db.transaction(() => {
    for (const s of legacy) {
      const existing = target.get(thingId, s.kind, s.name) as { id: number } | undefined;
      if (existing === undefined) {
        rename.run(thingId, s.id);
        result.renamed++;
      } else {
        result.rowsMoved += move.run(existing.id, s.id).changes;
        drop.run(s.id);
        result.merged++;
      }
    }
  })();
  return result;
}
