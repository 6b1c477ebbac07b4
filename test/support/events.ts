/**
 * The one loader for sample events under test/events/<source>/<case>.json (see
 * test/events/SOURCES.md for where each comes from). Typed by the caller.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const EVENTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'events');

/** Loads and parses `test/events/<relativePath>` (e.g. `kinesis/kinesis-event-non-cwl-data.aws-lambda-go.json`). */
export function loadEvent<T = unknown>(relativePath: string): T {
  return JSON.parse(readFileSync(join(EVENTS_DIR, relativePath), 'utf8')) as T;
}

/** Same, as raw text (for byte-exact cases). */
export function loadEventText(relativePath: string): string {
  return readFileSync(join(EVENTS_DIR, relativePath), 'utf8');
}
