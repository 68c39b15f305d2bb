import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from 'node-red';
import { asRecord } from '../../lib/protocol/flow-input';
import { WireError } from '../../lib/protocol/wire';

export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

/**
 * The one way our nodes take input: the handler may throw or reject, and the error goes
 * to `done(err)` (so Catch nodes see it, with the message) and turns the status red for a
 * moment via `onError`. A handler that returns a promise is done when it settles. A message of
 * the wrong shape on one of our wires (a WireError, lib/protocol/wire.ts) is refused in the
 * node's own words: `<type>.errors.<key>` of its message catalogue.
 */
export function onInput<M extends NodeMessageInFlow>(
  RED: NodeAPI,
  node: Node,
  handler: (msg: M, send: Send) => void | Promise<void>,
  onError?: (err: Error) => void,
): void {
  node.on('input', (msg: NodeMessageInFlow, send: Send, done: (err?: Error) => void) => {
    const fail = (e: unknown): void => {
      const err = e instanceof WireError ? inNodeWords(RED, node.type, e) : e instanceof Error ? e : new Error(String(e));
      onError?.(err);
      done(err);
    };
    try {
      const r = handler(msg as M, send);
      if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).then(() => done(), fail);
      else done();
    } catch (e) {
      fail(e);
    }
  });
}

/** A WireError in the node's catalogue's words; its English message where the catalogue has no such text. */
function inNodeWords(RED: NodeAPI, type: string, e: WireError): Error {
  const key = `${type}.errors.${e.key}`;
  const text = RED._(key, e.values);
  return new Error(text && text !== key ? text : e.message);
}

/** A message's payload as a plain object, or an empty one. */
export function payloadObject(msg: { payload?: unknown }): Record<string, unknown> {
  return asRecord(msg.payload);
}
