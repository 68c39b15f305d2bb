import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Node, NodeAPI } from 'node-red';
import { onInput } from '../../nodes/shared/input';
import { cloudStatusFrom } from '../../lib/protocol/wire';

/** A node and a runtime with a catalogue of one text: enough to see what `done` gets. */
function harness(catalogue: Record<string, string>) {
  const node = Object.assign(new EventEmitter(), { type: 'event-store' }) as unknown as Node;
  const RED = { _: (key: string, values?: Record<string, string>) => (catalogue[key] ?? key).replace(/__(\w+)__/g, (_m, k: string) => values?.[k] ?? '') };
  const errors: Array<Error | undefined> = [];
  const seen: Error[] = [];
  onInput(
    RED as unknown as NodeAPI,
    node,
    (msg) => void cloudStatusFrom(msg),
    (err) => seen.push(err),
  );
  const receive = (msg: object): void =>
    void node.emit(
      'input',
      msg,
      () => undefined,
      (err?: Error) => errors.push(err),
    );
  return { receive, errors, seen };
}

describe('onInput: a wrong message on one of our wires is refused in the node’s words', () => {
  it("says a WireError with the node's catalogue text, to done and to onError alike", () => {
    const h = harness({ 'event-store.errors.cloud-status': 'cloud_status için msg.payload.connected true ya da false olmalı' });
    h.receive({ topic: 'cloud_status', payload: {} });
    assert.equal(h.errors[0]?.message, 'cloud_status için msg.payload.connected true ya da false olmalı');
    assert.equal(h.seen[0], h.errors[0]);
    h.receive({ topic: 'cloud_status', payload: { connected: true } });
    assert.equal(h.errors[1], undefined, 'a good one is done without an error');
  });

  it('falls back to the English message where the catalogue has no such text', () => {
    const h = harness({});
    h.receive({ topic: 'cloud_status', payload: {} });
    assert.equal(h.errors[0]?.message, 'cloud_status needs msg.payload.connected true or false');
  });
});
