// Minimal types for node-red-node-test-helper, which ships none.
declare module 'node-red-node-test-helper' {
  import type { EventEmitter } from 'node:events';

  export interface TestNode extends EventEmitter {
    id: string;
    type: string;
    receive(msg: Record<string, unknown>): void;
  }

  export type FlowNode = Record<string, unknown> & { id: string; type: string };
  // Node modules are `(RED) => void`; the helper passes its own RED object.
  export type NodeModule = (RED: never) => void;

  interface Helper {
    init(runtimePath: string, userSettings?: Record<string, unknown>): void;
    settings(userSettings: Record<string, unknown>): Record<string, unknown>;
    load(nodes: NodeModule | NodeModule[], flow: FlowNode[], credentials?: Record<string, unknown>): Promise<void>;
    unload(): Promise<void>;
    setFlows(flow: FlowNode[], type: 'full' | 'nodes' | 'flows', credentials?: Record<string, unknown>): Promise<void>;
    getNode(id: string): TestNode;
    startServer(): Promise<void>;
    stopServer(): Promise<void>;
    clearFlows(): Promise<void>;
  }
  const helper: Helper;
  export = helper;
}
