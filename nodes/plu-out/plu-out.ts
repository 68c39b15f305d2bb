import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from 'node-red';
import { PluCatalog } from '../../lib/plu/plu-catalog';
import { formatPluFile, formatPluLine, type FormatOptions, type PluItem } from '../../lib/plu/plu-format';
import { parsePluOutSettings } from '../../lib/plu/settings';
import { Debounced } from '../../lib/util/debounce';
import { toPluItem } from '../../lib/plu/plu-item';
import { writeFileAtomic } from '../../lib/util/atomic-write';
import { startOnSite, type Started } from '../shared/startup';
import { onInput, payloadObject, type Send } from '../shared/input';
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
    const started: Started<PluCatalog> = startOnSite(RED, node, 'plus', config.site, parsed.errors, {
      open: (lease) => new PluCatalog(lease.db),
      resolved: () => ({ file: cfg!.file, encoding: cfg!.format.encoding, debounceS: cfg!.debounceMs / 1000 }),
      // The catalogue has nothing of its own to tie (every use goes through started.part); a
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
    const format = cfg?.format as FormatOptions;

    const showStatus = (): void => {
      const catalog = started.part;
      if (!catalog) {
        if (!started.down) status.set({ fill: 'red', shape: 'ring', text: statusKey('plu-out.status.not-running') });
        return;
      }
      let count: number;
      try {
        count = catalog.count();
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
      const catalog = started.part;
      if (!catalog) {
        if (started.down) writeAfterReopen = send;
        return;
      }
      let items: PluItem[];
      try {
        items = catalog.all();
      } catch (err) {
        // Runs on the debounce timer: a disk fault closes the catalogue and the write waits for the reopen.
        if (started.fault(err)) writeAfterReopen = send;
        else node.error(RED._('plu-out.errors.write', { file, error: (err as Error).message }));
        return;
      }
      const { bytes, count, errors } = formatPluFile(items, format);
      try {
        writeFileAtomic(file, bytes);
        lastFileAt = new Date();
        lastError = errors.length ? RED._('plu-out.errors.left-out', { count: errors.length }) : null;
        for (const e of errors) node.error(RED._('plu-out.errors.item', { error: e }), { topic: 'plu_refused', payload: { error: e } });
        send({ payload: bytes, filename: file, count, topic: 'plu_file' } as unknown as NodeMessageInFlow);
      } catch (err) {
        lastError = (err as Error).message;
        node.error(RED._('plu-out.errors.write', { file, error: lastError }));
      }
      showStatus();
    };

    const writes = new Debounced<Send>(cfg?.debounceMs ?? 0, (send) => writeNow(send));

    /** Reads and checks one item, naming the PLU and field when it cannot be written. */
    const accept = (raw: unknown): PluItem => {
      const { item, error } = toPluItem(raw);
      if (!item) throw new Error(error);
      const line = formatPluLine(item, format);
      if (!line.ok) throw new Error(line.error);
      return item;
    };

    onInput<NodeMessageInFlow>(
      node,
      (msg, send) => {
        const catalog = started.part;
        if (!catalog) throw new Error(started.down ? RED._('plu-out.errors.down', { error: started.down }) : RED._('plu-out.errors.not-running'));
        const now = Date.now();
        const topic = String(msg.topic ?? '');
        switch (topic) {
          case 'plu_updated':
            catalog.upsert(accept(msg.payload), now);
            break;
          case 'plu_deleted': {
            const code = Number(payloadObject(msg).pluCode ?? msg.payload);
            if (!Number.isInteger(code)) throw new Error(RED._('plu-out.errors.delete'));
            if (!catalog.remove(code)) node.warn(RED._('plu-out.errors.unknown-plu', { code }));
            break;
          }
          case 'plu_catalog': {
            const items = payloadObject(msg).items;
            if (!Array.isArray(items)) throw new Error(RED._('plu-out.errors.catalog'));
            const good: PluItem[] = [];
            const refused: string[] = [];
            for (const raw of items) {
              try {
                good.push(accept(raw));
              } catch (err) {
                refused.push((err as Error).message);
              }
            }
            catalog.replaceAll(good, now);
            for (const r of refused) node.error(RED._('plu-out.errors.item', { error: r }), { topic: 'plu_refused', payload: { error: r } });
            break;
          }
          case 'write':
            writeNow(send);
            return;
          default:
            throw new Error(RED._('plu-out.errors.unknown-topic', { topic }));
        }
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
