import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, NodeStatus } from 'node-red';
import { PluService, PLU_TOPICS, type PluFileWrite } from '../../lib/plu/plu-service';
import { isOneOf } from '../../lib/util/one-of';
import { parsePluOutSettings } from '../../lib/plu/settings';
import { Debounced } from '../../lib/util/debounce';
import { startOnSite, type Started } from '../shared/startup';
import { onInput, type Send } from '../shared/input';
import { ThrottledStatus } from '../shared/throttled-status';
import { statusKey } from '../shared/status-text';
import { registerAdminRoutes } from '../shared/admin-routes';

type PluOutDef = NodeDef & Record<string, unknown> & { site?: string };

export = function register(RED: NodeAPI): void {
  function PluOutNode(this: Node, config: PluOutDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = new ThrottledStatus((s: NodeStatus) => node.status(s), 250);
    /** The scale's file is written from the catalogue once it is open again after a disk fault. */
    let writeAfterReopen: Send | null = null;
    const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
    const parsed = parsePluOutSettings(config, userDir);
    const cfg = parsed.settings;
    let lastFileAt: Date | null = null;
    let lastError: string | null = null;
    const started: Started<PluService> = startOnSite(RED, node, 'plus', config.site, parsed.errors, {
      open: (lease) => new PluService(lease.db, { file: cfg!.file, format: cfg!.format }),
      resolved: () => ({ file: cfg!.file, encoding: cfg!.format.encoding, debounceS: cfg!.debounceMs / 1000 }),
      // The service has nothing of its own to tie (every use goes through started.part); a
      // write that was due while the disk was away is done now.
      bind: () => {
        const due = writeAfterReopen;
        writeAfterReopen = null;
        if (due) setImmediate(() => writeNow(due));
        // The status said "disk fault": show the reopened catalogue (after startOnSite returns).
        else setImmediate(() => showStatus());
        return () => undefined;
      },
      status: (s) => status.set(s),
    });
    const file = cfg?.file ?? '';
    const refuse = (error: string): void => node.error(RED._('plu-out.errors.item', { error }), { topic: 'plu_refused', payload: { error } });

    const showStatus = (): void => {
      const plu = started.part;
      if (!plu) {
        if (!started.down) status.set({ fill: 'red', shape: 'ring', text: statusKey('plu-out.status.not-running') });
        return;
      }
      let count: number;
      try {
        count = plu.count();
      } catch (err) {
        started.fault(err);
        return;
      }
      if (lastError) return status.set({ fill: 'red', shape: 'dot', text: statusKey('plu-out.status.write-failed') });
      const text = lastFileAt
        ? statusKey('plu-out.status.written', { count, when: lastFileAt.toTimeString().slice(0, 8) })
        : statusKey('plu-out.status.never', { count });
      status.set({ fill: 'green', shape: 'dot', text });
    };

    /** Writes the file from the catalogue now; invalid items are left out and reported. */
    const writeNow = (send: Send): void => {
      const plu = started.part;
      if (!plu) {
        if (started.down) writeAfterReopen = send;
        return;
      }
      let w: PluFileWrite;
      try {
        w = plu.writeFile();
      } catch (err) {
        // Runs on the debounce timer: a disk fault closes the catalogue and the write waits for the reopen.
        if (started.fault(err)) writeAfterReopen = send;
        else node.error(RED._('plu-out.errors.write', { file, error: (err as Error).message }));
        return;
      }
      if (w.error !== undefined) {
        lastError = w.error;
        node.error(RED._('plu-out.errors.write', { file, error: lastError }));
      } else {
        lastFileAt = new Date();
        lastError = w.leftOut.length ? RED._('plu-out.errors.left-out', { count: w.leftOut.length }) : null;
        w.leftOut.forEach(refuse);
        send({ payload: w.bytes, filename: file, count: w.count, topic: 'plu_file' } as NodeMessage);
      }
      showStatus();
    };

    const writes = new Debounced<Send>(cfg?.debounceMs ?? 0, (send) => writeNow(send));

    onInput<NodeMessageInFlow>(
      RED,
      node,
      (msg, send) => {
        const plu = started.part;
        if (!plu) throw new Error(started.down ? RED._('plu-out.errors.down', { error: started.down }) : RED._('plu-out.errors.not-running'));
        const topic = String(msg.topic ?? '');
        if (topic === 'write') return writeNow(send);
        if (!isOneOf(PLU_TOPICS, topic)) throw new Error(RED._('plu-out.errors.unknown-topic', { topic }));
        const { refused, unknownCode } = plu.apply(topic, msg.payload, Date.now());
        if (unknownCode !== undefined) node.warn(RED._('plu-out.errors.unknown-plu', { code: unknownCode }));
        refused.forEach(refuse);
        showStatus();
        writes.schedule(send);
      },
      (err) => {
        if (!started.fault(err)) lastError = err.message;
        showStatus();
      },
    );

    node.on('close', (_removed: boolean, done: () => void) => {
      status.stop();
      // A change not yet written goes to disk now: the scale's file must match the catalogue.
      writes.flush({ value: () => undefined });
      started.release();
      done();
    });

    showStatus();
  }

  RED.nodes.registerType('plu-out', PluOutNode);
  registerAdminRoutes(RED);
};
