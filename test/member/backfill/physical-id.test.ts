/**
 * PhysicalResourceId "can be up to 1 KB in size"
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html):
 * for every filter name the configuration and the runtime accept, the id stays within 1,024
 * bytes, stays the same for the same name, and differs between names (a rename must still
 * replace the resource so the old filters are removed).
 */
import { describe, expect, it } from 'vitest';
import { MAX_PHYSICAL_ID_BYTES, physicalIdFor } from '../../../member/backfill/handler';
import { settingsFromProperties } from '../../../member/runtime/env';
import { ownFilterName } from '../../../shared/naming';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** The longest names each layer accepts, in the widest characters UTF-8 has. */
const longest: Record<string, string> = {
  // The runtime schema (and PutSubscriptionFilter) accept 1-512 characters without ":" or "*".
  'ascii, 512 characters': 'a'.repeat(512),
  'three-byte characters, 512': '€'.repeat(512),
  // 256 astral characters are 512 UTF-16 units, the most the schema's length check lets in.
  'four-byte characters, 256': '😀'.repeat(256),
  // The deployment config accepts a 480-character base; the stack appends "-<region>".
  'config base of 480 three-byte characters + region': ownFilterName('ж'.repeat(480), 'ap-southeast-2'),
};

describe('physicalIdFor', () => {
  it('keeps the readable id for ordinary names (existing stacks keep their physical id)', () => {
    expect(physicalIdFor('log-reflector-eu-west-1')).toBe('log-reflector-backfill-log-reflector-eu-west-1');
  });

  for (const [label, name] of Object.entries(longest)) {
    it(`stays within 1 KB for the longest accepted name (${label})`, () => {
      // The name is one the backfill accepts as a property.
      expect(
        settingsFromProperties({
          DestinationArn: 'arn:aws:logs:eu-west-1:111122223333:destination:log-reflector',
          SenderRoleArn: 'arn:aws:iam::444455556666:role/log-reflector-sender',
          FilterName: name,
          Enrollment: 'enabled',
        }).filterName,
      ).toBe(name);
      const id = physicalIdFor(name);
      expect(bytes(id)).toBeLessThanOrEqual(MAX_PHYSICAL_ID_BYTES);
      expect(MAX_PHYSICAL_ID_BYTES).toBe(1024);
      expect(physicalIdFor(name)).toBe(id);
      expect(physicalIdFor(`${name.slice(0, -1)}b`)).not.toBe(id);
    });
  }
});
