import * as fs from 'node:fs';
import type { Clock } from '../util/clock';
import { WarningLimiter } from '../util/warning-limiter';
import { CoalescedSave } from '../util/coalesced-save';
import { IdConflicts, type IdConflict } from './id-conflicts';
import { KnownScales, MAX_KNOWN_SCALES } from './known-scales';
import type { DeviceRecord, DeviceRegistry } from './device-registry';
import type { DisconnectReason, GatewayWarning } from './gateway-events';
import { missingScales, type MissingScale } from './scale-views';

/**
 * Which scale is on which socket, and every scale ever seen: what a registration (`SCALE-NN`
 * or the address map) and a close mean for the scales. An id registered on a newer socket is
 * taken from the older one (closed as `replaced`), and two scales fighting over one id
 * (IdConflicts) are a problem, their take-overs not reported to the flow. The known scales
 * (KnownScales) are kept in a file, loaded at start and saved on connect, disconnect, forget
 * and stop. The gateway owns the sockets and tells the flow; this decides what to tell it.
 */

export interface RosterHost<C extends { id: string }> {
  readonly connections: ReadonlyMap<string, C>;
  close(conn: C, reason: DisconnectReason): void;
  warn(w: GatewayWarning, cause?: string): void;
  /** A line for the log. */
  info(message: string): void;
}

export interface RosterOptions {
  /** Where the known scales are kept across restarts; none: in memory only. */
  knownScalesFile?: string | null;
  /** Known scales, at most (the one gone longest is dropped first). */
  maxKnownScales?: number;
  /** A connect or disconnect is saved within this many ms (default 2 s), one write for a burst. */
  saveDelayMs?: number;
  /** A known scale disconnected this long is missing; 0: never. */
  missingAfterMs: number;
}

/** What the flow is told of a registration: nothing (the id it had), or a connect, or nothing but a change (a take-over in an id conflict). */
export type Registered = 'same' | 'reported' | 'quiet';

export class ScaleRoster<C extends { id: string; sourceIp: string }> {
  /** Every scale seen, connected or not (bounded; saved on connect, disconnect, forget and stop). */
  readonly known: KnownScales;
  private readonly saver: CoalescedSave | null;
  /** Connect and disconnect log lines: one per scale and kind a minute (a flapping scale is counted). */
  private readonly notes = new WarningLimiter(60_000);
  /** Connections whose device id moved to a newer socket: connection id -> device id. */
  private readonly replacedIds = new Map<string, string>();
  /** Ids two scales fight over (see IdConflicts); their take-overs are not reported to the flow. */
  private readonly conflicts = new IdConflicts();
  /** Sockets that lost their id in such a conflict: their close is not reported either. */
  private readonly quietCloses = new Set<string>();
  /** Monotonic time of start(): a scale gone before it is counted missing from then on. */
  private startedAt = 0;

  constructor(
    private readonly host: RosterHost<C>,
    private readonly registry: DeviceRegistry,
    private readonly clock: Clock,
    private readonly options: RosterOptions,
  ) {
    this.known = new KnownScales(options.maxKnownScales ?? MAX_KNOWN_SCALES);
    const file = options.knownScalesFile;
    this.saver = file
      ? new CoalescedSave(
          file,
          options.saveDelayMs ?? 2000,
          () => this.known.serialize(this.clock, (id) => this.registry.connectionOf(id)),
          (err) =>
            this.host.warn({
              code: 'known-scales',
              message: `cannot save the known scales to ${file}: ${err.message} (kept in memory; tried again at the next change)`,
            }),
        )
      : null;
  }

  start(now: number): void {
    this.startedAt = now;
    this.load();
  }

  /** Every connected scale is gone from now on, as the saved known scales will say; resolves once saved. */
  stop(now: number): Promise<void> {
    for (const d of this.registry.devices()) if (d.deviceId !== null) this.known.disconnected(d.deviceId, d, 'gateway-stopped', now);
    this.saver?.schedule();
    return this.saver ? this.saver.close() : Promise.resolve();
  }

  /** The socket of `conn` says it is `deviceId`. */
  register(conn: C, deviceId: string, now: number): Registered {
    const previousId = this.registry.get(conn.id)?.deviceId ?? null;
    if (previousId === deviceId) {
      this.registry.touch(conn.id, now);
      return 'same';
    }
    const result = this.registry.register(conn.id, deviceId, now);
    const rec = this.registry.get(conn.id)!;
    // A socket that registers again under another id leaves its old id without a connection.
    if (previousId !== null && !this.registry.connectionOf(previousId)) this.known.disconnected(previousId, rec, 'requested', now);
    this.known.connected(deviceId, rec, now);
    this.saver?.schedule();
    this.note('connect', deviceId, `${deviceId} connected from ${conn.sourceIp}`);
    // Two scales with one id take it from each other over and over: the flow (and the Cloud)
    // keeps seeing one connected scale, and the conflict is a problem until it stops.
    let quiet = false;
    if (result.replaced) {
      const old = this.host.connections.get(result.replaced.connectionId);
      // The first take-over is reported as it always was; those after it, while the conflict lasts, not.
      quiet = this.conflicts.active(deviceId, now) !== null;
      if (result.conflict) this.conflicts.takeover(deviceId, result.replaced.sourceIp, conn.sourceIp, now);
      if (old && quiet) this.quietCloses.add(old.id);
      if (result.conflict) {
        this.host.warn(
          {
            code: 'id-conflict',
            message: `${deviceId} connected from ${conn.sourceIp} while ${result.replaced.sourceIp} was still sending heartbeats as ${deviceId}: two scales are probably configured with the same ID`,
            deviceId,
            sourceIp: conn.sourceIp,
          },
          `id-conflict ${deviceId}`,
        );
      }
      if (old) {
        this.replacedIds.set(old.id, deviceId);
        this.host.close(old, 'replaced');
      }
    }
    return quiet ? 'quiet' : 'reported';
  }

  /**
   * The socket of `conn` closed and left the registry (`rec`, its last record). Returns the id
   * to report its disconnect under (a replaced socket's lost id too), and whether to keep quiet.
   */
  closed(conn: C, rec: DeviceRecord | undefined, reason: DisconnectReason): { deviceId: string | null; quiet: boolean } {
    const deviceId = rec?.deviceId ?? this.replacedIds.get(conn.id) ?? null;
    this.replacedIds.delete(conn.id);
    const quiet = this.quietCloses.delete(conn.id);
    if (deviceId) {
      this.note('disconnect', deviceId, `${deviceId} disconnected from ${conn.sourceIp} (${reason})`);
      // Gone, unless its id lives on in a newer socket (replaced): kept as known, with its last figures.
      if (rec?.deviceId && !this.registry.connectionOf(deviceId)) {
        this.known.disconnected(deviceId, rec, reason, this.clock.mono());
        this.saver?.schedule();
      }
    }
    return { deviceId, quiet };
  }

  /**
   * Forgets a scale that is not connected (the tab's Forget). A connected scale cannot be
   * forgotten: it would be known again at once, and the plant must see it.
   */
  forget(deviceId: string): 'forgotten' | 'connected' | 'unknown' {
    if (this.registry.connectionOf(deviceId)) return 'connected';
    if (!this.known.forget(deviceId)) return 'unknown';
    this.saver?.schedule();
    return 'forgotten';
  }

  /** Known scales disconnected longer than "Missing after" (counted from the start at the earliest). */
  missing(now: number): MissingScale[] {
    return missingScales(this.known, this.options.missingAfterMs, this.startedAt, now);
  }

  /** The ids two scales fight over now (each naming every address seen). */
  idConflicts(now: number): IdConflict[] {
    return this.conflicts.list(now);
  }

  /** The connect and disconnect log lines held back, with their counts. */
  flushNotes(now: number): string[] {
    return this.notes.flush(now).map((l) => l.message);
  }

  /** A log line for a scale's connect or disconnect, at most one per scale and kind a minute (the rest counted). */
  private note(kind: 'connect' | 'disconnect', deviceId: string, message: string): void {
    const line = this.notes.offer(`${kind} ${deviceId}`, message, this.clock.mono());
    if (line) this.host.info(line.message);
  }

  /** Reads the saved known scales, if any: every one is disconnected until it connects again. */
  private load(): void {
    const file = this.options.knownScalesFile;
    if (!file || this.known.size) return;
    // The file, else the copy of the one before it (writeFileAtomic keeps it), else none.
    for (const f of [file, `${file}.bak`]) {
      let text: string;
      try {
        text = fs.readFileSync(f, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        this.host.warn({ code: 'known-scales', message: `cannot read the known scales from ${f}: ${(err as Error).message}` });
        continue;
      }
      try {
        const bad = this.known.load(text, this.clock);
        if (bad) this.host.warn({ code: 'known-scales', message: `skipped ${bad} unreadable record(s) in ${f}` });
        return;
      } catch (err) {
        this.host.warn({ code: 'known-scales', message: `ignored ${f}: ${(err as Error).message}` });
      }
    }
  }
}
