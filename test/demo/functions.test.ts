/** The zip the demo records a function's inline code in (functions.ts). */
import { describe, expect, it } from 'vitest';
import { crc32, storedZip } from './functions';

describe('storedZip', () => {
  it('computes the zip CRC-32 (the check value of CRC-32/ISO-HDLC)', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });

  it('writes one stored file: local header, data, central directory, end record pointing at it', () => {
    const content = 'exports.handler = async () => 1;';
    const zip = Buffer.from(storedZip('index.js', content));
    expect(zip.readUInt32LE(0)).toBe(0x04034b50);
    expect(zip.readUInt16LE(8)).toBe(0); // stored
    expect(zip.readUInt32LE(14)).toBe(crc32(Buffer.from(content)));
    expect(zip.readUInt32LE(18)).toBe(content.length);
    expect(zip.subarray(30, 38).toString()).toBe('index.js');
    expect(zip.subarray(38, 38 + content.length).toString()).toBe(content);
    const end = zip.length - 22;
    expect(zip.readUInt32LE(end)).toBe(0x06054b50);
    expect(zip.readUInt16LE(end + 10)).toBe(1);
    const centralOffset = zip.readUInt32LE(end + 16);
    expect(centralOffset).toBe(38 + content.length);
    expect(zip.readUInt32LE(centralOffset)).toBe(0x02014b50);
    expect(zip.readUInt32LE(centralOffset + 16)).toBe(crc32(Buffer.from(content)));
    expect(zip.readUInt32LE(end + 12)).toBe(end - centralOffset);
  });
});
