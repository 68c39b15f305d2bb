/**
 * Device status messages (connects, disconnects, heartbeats) that could not be sent while the
 * link was down: only the latest of each device is worth sending later, and at most `max`
 * devices are kept (the oldest goes first), so an outage cannot grow memory. Events and
 * batches are not kept here: the store sends those again.
 */
export class HeldStatuses {
  private readonly held = new Map<string, { topic: string; payload: Record<string, unknown> }>();

  constructor(private readonly max = 1000) {}

  hold(deviceId: string, topic: string, payload: Record<string, unknown>): void {
    this.held.delete(deviceId);
    if (this.held.size >= this.max) this.held.delete(this.held.keys().next().value!);
    this.held.set(deviceId, { topic, payload });
  }

  /** Hands every held message to `send`, oldest first, and forgets them. */
  flush(send: (topic: string, payload: Record<string, unknown>) => void): void {
    for (const m of this.held.values()) send(m.topic, m.payload);
    this.held.clear();
  }

  clear(): void {
    this.held.clear();
  }

  get size(): number {
    return this.held.size;
  }
}
