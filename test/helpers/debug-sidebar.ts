import WebSocket from 'ws';
import { waitFor } from './node-red';

export interface DebugMessage {
  id: string;
  name?: string;
  msg: string;
  format: string;
}

/**
 * What the editor's debug sidebar receives: Node-RED's /comms WebSocket, subscribed to
 * `debug`, exactly as the browser does it.
 */
export class DebugSidebar {
  readonly messages: DebugMessage[] = [];
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frames = JSON.parse(String(data)) as Array<{ topic?: string; data: DebugMessage }>;
      for (const f of Array.isArray(frames) ? frames : [frames]) if (f.topic === 'debug') this.messages.push(f.data);
    });
  }

  static async open(baseUrl: string, token?: string): Promise<DebugSidebar> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/comms');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    if (token) {
      // The editor logs in on the socket first and subscribes once the runtime says ok.
      const ok = new Promise<void>((resolve, reject) => {
        ws.once('message', (data) => (/"auth":"ok"/.test(String(data)) ? resolve() : reject(new Error(`comms login refused: ${String(data)}`))));
      });
      ws.send(JSON.stringify({ auth: token }));
      await ok;
    }
    const sidebar = new DebugSidebar(ws);
    ws.send(JSON.stringify({ subscribe: 'debug' }));
    return sidebar;
  }

  async waitForCount(n: number, timeoutMs = 15_000): Promise<void> {
    await waitFor(() => this.messages.length >= n, `${n} debug message(s), got ${this.messages.length}`, timeoutMs);
  }

  close(): void {
    this.ws.terminate();
  }
}
