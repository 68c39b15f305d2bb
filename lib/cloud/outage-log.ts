import type { CloudStatus } from './cloud-client';
import { isKeyRefused } from './link-reason';

/**
 * What the log says about the Cloud link: one line when an outage starts (and again only if
 * its reason changes), one line with the count and length when the link is back, never a line
 * per retry. A refused key (HTTP 401/403) is a warning: someone has to fix it.
 */
export interface OutageLine {
  level: 'info' | 'warn';
  key: 'connected' | 'reconnected' | 'waiting';
  params: { reason?: string; seconds?: number; attempts?: number; downS?: number };
}

export class OutageLog {
  private down: { sinceMs: number; attempts: number; reason: string } | null = null;
  private everConnected = false;

  /** Feed every status of the link; returns the line to log, if any. */
  onStatus(s: CloudStatus, nowMs: number): OutageLine | null {
    if (s.connected) {
      const was = this.down;
      const first = !this.everConnected;
      this.everConnected = true;
      this.down = null;
      if (was) return { level: 'info', key: 'reconnected', params: { attempts: was.attempts, downS: Math.round((nowMs - was.sinceMs) / 1000) } };
      return first ? { level: 'info', key: 'connected', params: {} } : null;
    }
    if (s.state !== 'waiting') return null;
    const reason = s.reason ?? '';
    const line = (): OutageLine => ({
      level: isKeyRefused(reason) ? 'warn' : 'info',
      key: 'waiting',
      params: { reason, seconds: Math.ceil((s.nextRetryMs ?? 0) / 1000) },
    });
    if (!this.down) {
      this.down = { sinceMs: nowMs, attempts: 1, reason };
      return line();
    }
    this.down.attempts++;
    if (reason === this.down.reason) return null;
    this.down.reason = reason;
    return line();
  }
}
