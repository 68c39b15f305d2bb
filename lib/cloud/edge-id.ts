import { getSetting, setSetting, type SqliteDatabase } from '../db/database';

/** The edge id the Cloud gave this gateway, kept in the site database across restarts. */
const EDGE_ID_KEY = 'cloud.edgeId';

export function loadEdgeId(db: SqliteDatabase): string | null {
  return getSetting(db, EDGE_ID_KEY);
}

export function saveEdgeId(db: SqliteDatabase, edgeId: string): void {
  setSetting(db, EDGE_ID_KEY, edgeId);
}
