import type { Node, NodeMessage, NodeMessageInFlow } from 'node-red';
import { asRecord } from '../../lib/protocol/flow-input';

export type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;

/**
 * The one way our nodes take input: the handler may throw or reject, and the error goes
 * to `done(err)` (so Catch nodes see it, with the message) and turns the status red for a
 * moment via `onError`. A handler that returns a promise is done when it settles.
 */
export function onInput<M extends NodeMessageInFlow>(node: Node, handler: (msg: M, send: Send) => void | Promise<void>, onError?: (err: Error) => void): void {
  node.on('input', (msg: NodeMessageInFlow, send: Send, done: (err?: Error) => void) => {
    const fail = (e: unknown): void => {
      const err = e instanceof Error ? e : new Error(String(e));
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

/** A message's payload as a plain object, or an empty one. */
export function payloadObject(msg: { payload?: unknown }): Record<string, unknown> {
  return asRecord(msg.payload);
}
