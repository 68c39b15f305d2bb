import { CloudClient, type TlsOptions } from './cloud-client';
import type { CloudLinkSettings } from './settings';
import { HeldStatuses } from './held-statuses';
import { AckGroups } from './ack-groups';
import { OutageLog, type OutageLine } from './outage-log';
import { globalDeviceId } from '../site/device-id';
import { packageVersion } from '../util/package-version';
import {
  cloudStatusMessage,
  eventAcksMessage,
  protocolMessage,
  toCloudFrom,
  type CloudStatus,
  type CloudStatusMessage,
  type EventAcksMessage,
  type ProtocolMessage,
  type Received,
} from '../protocol/wire';

/**
 * A CloudClient as the cloud-link node runs it, knowing nothing of Node-RED: the client's
 * options from the node's settings, what the Edge says it can do, and the messages around the
 * link. Out: every status as `cloud_status`, the Cloud's messages, and its acks one by one or
 * grouped per turn (`event_acks`). In: messages for the Cloud, where a device's status that
 * cannot go now is held (the latest per device, sent on the next connect) and anything else
 * is left to the store, which sends it again.
 */

/** Device status messages kept while the link is down: the latest per device, at most this many. */
export const MAX_HELD_DEVICES = 1000;

/** What this Edge tells the Cloud it can do, in `register`. */
export const CAPABILITIES = ['events', 'event_batch', 'offline_batches', 'sessions', 'device_status'];

/** Where the runner's messages and log lines go (the node's outputs and log). */
export interface LinkOutputs {
  status(msg: CloudStatusMessage): void;
  fromCloud(msg: ProtocolMessage): void;
  acks(msg: EventAcksMessage): void;
  log(line: OutageLine): void;
}

export class LinkRunner {
  private readonly held = new HeldStatuses(MAX_HELD_DEVICES);
  private readonly ackGroups: AckGroups;
  private readonly outages = new OutageLog();
  private wasConnected = false;

  constructor(
    private readonly settings: CloudLinkSettings,
    private readonly out: LinkOutputs,
  ) {
    this.ackGroups = new AckGroups((group) => out.acks(eventAcksMessage(group)));
  }

  /** The client for this site, not started; its events are tied to the outputs. */
  open(site: { siteId: string; siteName: string }, apiKey: string, edgeId: string | null, tls: TlsOptions | undefined): CloudClient {
    const cfg = this.settings;
    const client = new CloudClient({
      url: cfg.url,
      apiKey,
      siteId: site.siteId,
      siteName: site.siteName,
      edgeId,
      version: packageVersion(),
      capabilities: CAPABILITIES,
      keepAliveMs: cfg.keepAliveS * 1000,
      pongTimeoutMs: cfg.pongTimeoutS * 1000,
      minBackoffMs: cfg.minBackoffS * 1000,
      maxBackoffMs: cfg.maxBackoffS * 1000,
      handshakeTimeoutMs: cfg.handshakeTimeoutS * 1000,
      maxFrameBytes: cfg.maxFrameKB * 1024,
      tls,
    });
    client.on('status', (s) => this.onStatus(client, s));
    const grouped = cfg.ackOutput === 'grouped';
    client.on('message', (type, payload) => {
      if (grouped && type === 'event_ack') this.ackGroups.ack(payload);
      else if (grouped && type === 'event_rejected') this.ackGroups.reject(payload);
      else this.out.fromCloud(protocolMessage(type, payload));
    });
    return client;
  }

  /** The status said before the client's first: connecting, for the nodes that wait on it. */
  starting(client: CloudClient): void {
    this.out.status(cloudStatusMessage({ connected: false, edgeId: client.edgeId, reason: 'starting', attempt: 0, nextRetryMs: null, state: 'connecting' }));
  }

  private onStatus(client: CloudClient, s: CloudStatus): void {
    const justConnected = s.connected && !this.wasConnected;
    this.wasConnected = s.connected;
    this.out.status(cloudStatusMessage(s));
    if (justConnected) this.held.flush((topic, payload) => client.send(topic, payload));
    const line = this.outages.onStatus(s, Date.now());
    if (line) this.out.log(line);
  }

  /**
   * A message for the Cloud from a wire (lib/protocol/wire.ts toCloudFrom refuses what is not
   * one): sent now, or, a device's status, held until the link is up. A device is known to
   * the Cloud as <siteId>-<deviceId> (events get it in session-cache).
   */
  send(client: CloudClient, msg: Received, siteId: string): void {
    const { topic, spec, payload: p } = toCloudFrom(msg);
    let payload = p;
    if (spec.deviceStatus && typeof payload.deviceId === 'string' && !payload.globalDeviceId)
      payload = { ...payload, globalDeviceId: globalDeviceId(siteId, payload.deviceId) };
    if (client.send(topic, payload)) return;
    if (spec.deviceStatus) this.held.hold(String(payload.deviceId ?? ''), topic, payload);
  }

  /** At close: the acks already received go out (event-store writes them before it closes); nothing stays held. */
  close(): void {
    this.ackGroups.flush();
    this.held.clear();
  }
}
