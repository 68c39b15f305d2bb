import type { EventAckPayload, EventRejectedPayload } from '../protocol/messages';
import type { EventAcksPayload } from '../protocol/wire';

/**
 * Acks received in one turn of the event loop (one `event_batch` answer, typically) leave as
 * one `event_acks` message: a flow passes one message per turn per node, and the Cloud acks
 * every event. `flush()` sends what is collected now (at close, so none is lost).
 */
export class AckGroups {
  private group: EventAcksPayload = { acks: [], rejected: [] };
  private scheduled = false;

  constructor(private readonly send: (group: EventAcksPayload) => void) {}

  ack(p: EventAckPayload): void {
    this.group.acks.push(p);
    this.schedule();
  }

  reject(p: EventRejectedPayload): void {
    this.group.rejected.push(p);
    this.schedule();
  }

  flush(): void {
    this.scheduled = false;
    const g = this.group;
    if (!g.acks.length && !g.rejected.length) return;
    this.group = { acks: [], rejected: [] };
    this.send(g);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }
}
