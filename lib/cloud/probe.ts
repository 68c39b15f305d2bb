import * as net from 'node:net';

/**
 * Is anything listening at the Cloud's address? A bare TCP connect, closed at once: cheap for
 * both sides, no TLS, no key, nothing logged by the Cloud. Used while the link waits out a
 * long backoff, so that a Cloud that is back is reconnected to within a probe interval.
 */
export function tcpProbe(url: string, timeoutMs = 1000): Promise<boolean> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve(false);
  }
  const port = Number(target.port) || (target.protocol === 'wss:' ? 443 : 80);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}
