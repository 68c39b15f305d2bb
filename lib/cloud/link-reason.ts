/**
 * Why the Cloud link is down, as a code a person can be told in words, from the raw reason
 * the WebSocket or the socket gave ("Unexpected server response: 401", "connect ECONNREFUSED
 * 127.0.0.1:9", ...). The raw text stays available as the detail.
 */
export type LinkReasonCode = 'key-refused' | 'server-error' | 'refused' | 'not-found' | 'timeout' | 'certificate' | 'closed' | 'half-open' | 'other';

const RULES: Array<[RegExp, LinkReasonCode]> = [
  [/Unexpected server response: (401|403)\b/, 'key-refused'],
  [/Unexpected server response: 5\d\d\b/, 'server-error'],
  [/ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH/, 'refused'],
  [/ENOTFOUND|EAI_AGAIN|Unexpected server response: 404\b/, 'not-found'],
  [/ETIMEDOUT|[Oo]pening handshake has timed out|timed? ?out/, 'timeout'],
  [/certificate|self[- ]signed|CERT_|SSL|TLS/i, 'certificate'],
  [/half-open|no pong/, 'half-open'],
  [/closed by the Cloud/, 'closed'],
];

export function classifyLinkReason(reason: string | null | undefined): LinkReasonCode {
  const r = reason ?? '';
  for (const [re, code] of RULES) if (re.test(r)) return code;
  return 'other';
}

/** A refused key is for a person to fix, not a network blip: logged as a warning. */
export function isKeyRefused(reason: string | null | undefined): boolean {
  return classifyLinkReason(reason) === 'key-refused';
}
