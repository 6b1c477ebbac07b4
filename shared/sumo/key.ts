/**
 * The idempotency key that travels with every line: `<stream hash>-<CloudWatch event id>`,
 * e.g. `4f0c2a9d81b3-37199717563107880995141901415313936169291476248187437057`.
 *
 * The stream hash is 12 hex digits (48 bits) of account, region, log group and log stream,
 * so the key is unique across the organisation while the event id (unique within its log
 * stream) stays readable and searchable. A record the event source mapping delivers twice
 * (a partial failure, a bisect, a replay) yields the same keys, so duplicates can be removed
 * downstream. The hash is computed once per record, never per event; the key costs gzip
 * little because its id part repeats bytes already in the line's neighbourhood.
 *
 * Changing this function changes every key: treat it as a contract (tests pin known values).
 */

const LANE_A = 0x9e3779b1;
const LANE_B = 0x85ebca77;

function hex(n: number, digits: number): string {
  const s = (n >>> 0).toString(16).padStart(8, '0');
  return s.slice(8 - digits);
}

/** 12 hex digits identifying one log stream of one account and region. */
export function streamKey(account: string, region: string, logGroup: string, logStream: string): string {
  // Two 32-bit multiply-xor lanes over the NUL-separated parts, then a final avalanche.
  const text = `${account}\u0000${region}\u0000${logGroup}\u0000${logStream}`;
  let a = 0x811c9dc5;
  let b = 0x6a09e667;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, LANE_A);
    b = Math.imul(b ^ c, LANE_B);
  }
  a ^= b >>> 15;
  a = Math.imul(a ^ (a >>> 16), 0x2c1b3c6d);
  b ^= a >>> 13;
  b = Math.imul(b ^ (b >>> 16), 0x297a2d39);
  a ^= b >>> 16;
  b ^= a >>> 15;
  return hex(a, 8) + hex(b, 4);
}

/** The idempotency key of event `id` in the stream `streamKey` was computed for. */
export function eventKey(stream: string, id: string): string {
  return `${stream}-${id}`;
}
