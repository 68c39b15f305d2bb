import type { SqliteDatabase } from '../db/database';
import { rowCache, type RowCache } from '../db/row-cache';
import { sessionMessageFrom } from '../protocol/flow-input';
import type { WireEvent } from '../protocol/wire';
import { merged } from '../util/merged';
import { uuidv7 } from '../util/uuidv7';
import { globalDeviceId } from '../site/device-id';
import { OfflineBatches, type OfflineBatch, type BatchMessage } from '../batches/offline-batches';
import { systemClock, type Clock } from '../util/clock';

/**
 * The Cloud's disassembly sessions, cached per device in the site database so that events
 * are tagged while the Cloud is away and after a restart. It decides when a device's events go
 * to an offline batch (lib/batches owns the batches themselves).
 */

export type SessionStatus = 'active' | 'paused';

export interface CachedSession {
  deviceId: string;
  cloudSessionId: string;
  animalId: string | null;
  animalTag: string | null;
  animalSpecies: string | null;
  operatorId: string | null;
  status: SessionStatus;
  startedAt: string | null;
  updatedAt: number;
}

export const SESSION_TOPICS = ['session_started', 'session_ended', 'session_paused', 'session_resumed'] as const;
export type SessionTopic = (typeof SESSION_TOPICS)[number];

/** The tags session-cache adds to an event. */
export interface SessionTags {
  globalDeviceId: string;
  cloudSessionId: string | null;
  animalId: string | null;
  animalTag: string | null;
  animalSpecies: string | null;
  operatorId: string | null;
  sessionStatus: SessionStatus | null;
  offlineMode: boolean;
  offlineBatchId: string | null;
}

/** An event with its tags, as session-cache passes it on to the store. */
export type TaggedEvent = WireEvent & SessionTags;

export interface SessionCacheOptions {
  siteId: string;
  /**
   * A session not updated by the Cloud for this long is no longer used for tagging. Counted on
   * the monotonic clock (see SessionAges), so a step of the gateway's clock neither ends a
   * session early nor keeps it alive.
   */
  expiryMs: number;
  clock?: Clock;
  /**
   * Whether the Cloud is reachable, as last told (default false, until a cloud_status says):
   * a cache opened again after a disk fault carries on as before, without closing batches.
   */
  cloudReachable?: boolean;
}

/** A site has at most 99 scales a gateway; far more keys means something else is sending. */
const MAX_AGES = 10_000;

/**
 * How old each cached session is, on the monotonic clock. `updated_at` in the database is wall
 * time (it must survive a restart, and the monotonic clock does not); it is read once, the first
 * time this process sees that version of the session, and from then on the age grows with the
 * monotonic clock only. So a session expires on time across a restart, and an NTP or manual
 * step of the clock while the gateway runs does not move its expiry. Shared by every cache on
 * one connection, like the rows themselves.
 */
class SessionAges {
  /** deviceId → the session's updated_at and the monotonic instant its age counts from. */
  private readonly since = new Map<string, { updatedAt: number; mono: number }>();

  /** The session was written now (wall `updatedAt`): its age starts at 0. */
  touched(deviceId: string, updatedAt: number, mono: number): void {
    if (this.since.size >= MAX_AGES) this.since.clear();
    this.since.set(deviceId, { updatedAt, mono });
  }

  ageMs(s: CachedSession, wallNow: number, mono: number): number {
    const a = this.since.get(s.deviceId);
    if (a && a.updatedAt === s.updatedAt) return mono - a.mono;
    // First seen by this process (after a restart, or written by another process): its age so
    // far by the wall clock, once.
    const age = Math.max(0, wallNow - s.updatedAt);
    this.touched(s.deviceId, s.updatedAt, mono - age);
    return age;
  }
}

const agesOf = new WeakMap<SqliteDatabase, SessionAges>();

interface SessionRow {
  device_id: string;
  cloud_session_id: string;
  animal_id: string | null;
  animal_tag: string | null;
  animal_species: string | null;
  operator_id: string | null;
  status: SessionStatus;
  started_at: string | null;
  updated_at: number;
}

const toSession = (r: SessionRow): CachedSession => ({
  deviceId: r.device_id,
  cloudSessionId: r.cloud_session_id,
  animalId: r.animal_id,
  animalTag: r.animal_tag,
  animalSpecies: r.animal_species,
  operatorId: r.operator_id,
  status: r.status,
  startedAt: r.started_at,
  updatedAt: r.updated_at,
});

export class SessionCache {
  private cloudReachable = false;
  private readonly stmt;
  private readonly batches: OfflineBatches;
  /** Each device's cached session, read on every weighing. */
  private readonly byDevice: RowCache<CachedSession>;
  private readonly ages: SessionAges;
  private readonly clock: Clock;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly o: SessionCacheOptions,
  ) {
    this.byDevice = rowCache<CachedSession>(db, 'sessions.device');
    this.clock = o.clock ?? systemClock;
    let ages = agesOf.get(db);
    if (!ages) agesOf.set(db, (ages = new SessionAges()));
    this.ages = ages;
    this.stmt = {
      get: db.prepare('SELECT * FROM sessions WHERE device_id = ?'),
      bySession: db.prepare('SELECT * FROM sessions WHERE cloud_session_id = ?'),
      upsert: db.prepare(`
        INSERT INTO sessions (device_id, cloud_session_id, animal_id, animal_tag, animal_species, operator_id, status, started_at, updated_at, payload)
        VALUES (@deviceId, @cloudSessionId, @animalId, @animalTag, @animalSpecies, @operatorId, @status, @startedAt, @updatedAt, @payload)
        ON CONFLICT (device_id) DO UPDATE SET cloud_session_id = excluded.cloud_session_id, animal_id = excluded.animal_id,
          animal_tag = excluded.animal_tag, animal_species = excluded.animal_species, operator_id = excluded.operator_id,
          status = excluded.status, started_at = excluded.started_at, updated_at = excluded.updated_at, payload = excluded.payload`),
      setStatus: db.prepare('UPDATE sessions SET status = ?, updated_at = ? WHERE device_id = ?'),
      remove: db.prepare('DELETE FROM sessions WHERE device_id = ?'),
      all: db.prepare('SELECT * FROM sessions ORDER BY device_id'),
    };
    this.batches = new OfflineBatches(db, o.siteId);
    this.cloudReachable = o.cloudReachable ?? false;
  }

  get isCloudReachable(): boolean {
    return this.cloudReachable;
  }

  /** A session of the Cloud's: returns the batch messages it causes, or an error naming the field. */
  apply(topic: SessionTopic, payload: unknown, now: number): { messages: BatchMessage[]; error?: string; session?: CachedSession | null } {
    const m = sessionMessageFrom(payload);
    const sessionId = m.cloudSessionId;
    let deviceId = m.deviceId;
    if (!deviceId && sessionId) {
      const row = this.stmt.bySession.get(sessionId) as SessionRow | undefined;
      deviceId = row?.device_id ?? null;
    }
    if (topic === 'session_started') {
      if (!sessionId) return { messages: [], error: `${topic}: cloudSessionId (or sessionId) is missing` };
      if (!deviceId) return { messages: [], error: `${topic}: deviceId is missing` };
      const session: CachedSession = {
        deviceId,
        cloudSessionId: sessionId,
        animalId: m.animalId ?? null,
        animalTag: m.animalTag ?? null,
        animalSpecies: m.animalSpecies ?? null,
        operatorId: m.operatorId ?? null,
        status: 'active',
        startedAt: m.startedAt ?? new Date(now).toISOString(),
        updatedAt: now,
      };
      const messages = this.db.transaction(() => {
        this.byDevice.drop(deviceId!);
        this.stmt.upsert.run({ ...session, payload: JSON.stringify(m.raw) });
        this.ages.touched(deviceId!, now, this.clock.mono());
        // A session starting closes the device's offline batch: its events now have an owner.
        return this.batches.end(deviceId!, 'session-started', now);
      })();
      return { messages, session };
    }
    if (!deviceId) return { messages: [], error: `${topic}: deviceId is missing and no cached session has cloudSessionId ${sessionId ?? '(none)'}` };
    const cached = this.stmt.get.get(deviceId) as SessionRow | undefined;
    // A late message about an older session must not touch the newer one.
    if (!cached || (sessionId && cached.cloud_session_id !== sessionId)) return { messages: [], session: null };
    this.byDevice.drop(deviceId);
    if (topic === 'session_ended') this.stmt.remove.run(deviceId);
    else {
      this.stmt.setStatus.run(topic === 'session_paused' ? 'paused' : 'active', now, deviceId);
      this.ages.touched(deviceId, now, this.clock.mono());
    }
    const after = this.stmt.get.get(deviceId) as SessionRow | undefined;
    return { messages: [], session: after ? toSession(after) : null };
  }

  /** The Cloud became reachable or unreachable. Reconnecting closes every open batch. */
  setCloudReachable(reachable: boolean, now: number): BatchMessage[] {
    const was = this.cloudReachable;
    this.cloudReachable = reachable;
    if (!reachable || was) return [];
    return this.db.transaction(() => {
      return this.batches.open().flatMap((b) => this.batches.end(b.deviceId, 'cloud-reconnected', now));
    })();
  }

  /** The session a device's events are tagged with now, or null (none, or expired). */
  sessionFor(deviceId: string, now: number): { session: CachedSession | null; expired?: CachedSession } {
    const s = this.byDevice.get(deviceId, () => {
      const row = this.stmt.get.get(deviceId) as SessionRow | undefined;
      return row ? toSession(row) : null;
    });
    if (!s) return { session: null };
    if (this.expired(s, now)) {
      this.byDevice.drop(deviceId);
      this.stmt.remove.run(deviceId);
      return { session: null, expired: s };
    }
    return { session: s };
  }

  /**
   * Tags for one event of `deviceId`: the session's fields, and an offline batch when the
   * Cloud is unreachable or the device has no session (opening one emits its start).
   */
  tag(deviceId: string, now: number): { tags: SessionTags; messages: BatchMessage[]; expired?: CachedSession } {
    const { session, expired } = this.sessionFor(deviceId, now);
    const messages: BatchMessage[] = [];
    let offlineBatchId: string | null = null;
    if (!this.cloudReachable || !session) {
      let batch = this.batches.openFor(deviceId);
      if (!batch) {
        const started = this.batches.start(
          uuidv7(now),
          deviceId,
          session?.cloudSessionId ?? null,
          this.cloudReachable ? 'no-session' : 'cloud-unreachable',
          now,
        );
        batch = started.batch;
        messages.push(started.message);
      }
      offlineBatchId = batch.batchId;
    }
    return {
      tags: {
        globalDeviceId: globalDeviceId(this.o.siteId, deviceId),
        // Offline events keep the cached session id, so the Cloud can reconcile them.
        cloudSessionId: session?.cloudSessionId ?? null,
        animalId: session?.animalId ?? null,
        animalTag: session?.animalTag ?? null,
        animalSpecies: session?.animalSpecies ?? null,
        operatorId: session?.operatorId ?? null,
        sessionStatus: session?.status ?? null,
        offlineMode: !this.cloudReachable,
        offlineBatchId,
      },
      messages,
      expired,
    };
  }

  /**
   * The event with its device's tags (a copy: the session's fields, an offline batch when one
   * is due), the batch messages that causes, and the session that expired on the way, if any.
   */
  tagEvent(event: WireEvent, now: number): { event: TaggedEvent; messages: BatchMessage[]; expired?: CachedSession } {
    const { tags, messages, expired } = this.tag(event.deviceId, now);
    return { event: merged(event, tags), messages, expired };
  }

  /** The sessions still in use (not expired); `now` is the wall clock, read only for sessions not seen before. */
  sessions(now: number): CachedSession[] {
    return (this.stmt.all.all() as SessionRow[]).map(toSession).filter((s) => !this.expired(s, now));
  }

  private expired(s: CachedSession, now: number): boolean {
    return this.ages.ageMs(s, now, this.clock.mono()) > this.o.expiryMs;
  }

  openBatch(deviceId: string): OfflineBatch | null {
    return this.batches.openFor(deviceId);
  }

  openBatches(): OfflineBatch[] {
    return this.batches.open();
  }
}
