/**
 * Defence in depth at the central side (issue 15.4, docs/enrollment.md "Defence in depth"):
 * the reflector forwards events only from accounts the enrollment reconciler has published as
 * enrolled (`enrollment/accounts.json` in the central state bucket, shared/enrollment.ts
 * `EnrolledListSchema`). Whatever filters linger in an account that opted out, is still
 * undecided, left the target OUs or left the organization, its events stop here: counted
 * (`EventsNotEnrolled`) and logged with the account id, never silently.
 *
 * The list is read at most once a minute per container (`LIST_TTL_MS`). When it cannot be read:
 * - a list read before stays in use for `STALE_GRACE_MS` (a blip of S3 must not stop the flow);
 * - with no usable list, nothing is forwarded and nothing is lost: every record goes back to
 *   Kinesis as a batchItemFailure (retried until the list is back, or parked in the failure
 *   bucket by the event source mapping when the record's age runs out; `log-reflector replay`
 *   re-drives it), and `EnrollmentListUnavailable` is counted and alarmed.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ENROLLED_LIST_KEY, type EnrolledList, EnrolledListSchema } from '../../shared/enrollment';
import { describeValue } from '../../shared/errors';

/** How long a list read from S3 is used before it is read again. */
export const LIST_TTL_MS = 60_000;
/** How long the last good list stays in use while S3 refuses to give a new one. */
export const STALE_GRACE_MS = 5 * 60_000;

export type EnrolledView =
  | {
      readonly ok: true;
      readonly accounts: ReadonlySet<string>;
      readonly generation: number;
      /** Now − the list's updatedAt: how long ago the reconciler published it. */
      readonly ageMs: number;
      /** The last refresh failed: this is the list read before. */
      readonly stale: boolean;
    }
  | { readonly ok: false; readonly reason: string };

/** Reads the document; throws with a reason when it is missing, unreadable or malformed. */
export type EnrolledSource = () => Promise<EnrolledList>;

export function parseEnrolledList(body: string, where: string): EnrolledList {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new Error(`${where} is not JSON (received ${describeValue(body)})`);
  }
  const parsed = EnrolledListSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${where} is not an enrolled list at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

/** The list in the central state bucket (same account as the reflector). */
export function s3EnrolledSource(client: () => Promise<S3Client>, bucket: string): EnrolledSource {
  return async () => {
    const { GetObjectCommand } = await loadS3();
    const out = await (await client()).send(new GetObjectCommand({ Bucket: bucket, Key: ENROLLED_LIST_KEY }));
    return parseEnrolledList(
      (await out.Body?.transformToString()) ?? '',
      `s3://${bucket}/${ENROLLED_LIST_KEY}`,
    );
  };
}

/** `require` in the deployed CommonJS bundle (the runtime's SDK), `import()` from source. */
async function loadS3(): Promise<typeof import('@aws-sdk/client-s3')> {
  return typeof require === 'function' ? require('@aws-sdk/client-s3') : import('@aws-sdk/client-s3');
}

/** The list, cached per container. */
export class EnrolledAccounts {
  private list: { doc: EnrolledList; accounts: Set<string>; readAt: number } | undefined;
  private lastFailure: string | undefined;

  constructor(
    private readonly source: EnrolledSource,
    private readonly now: () => number = Date.now,
  ) {}

  async view(): Promise<EnrolledView> {
    const now = this.now();
    if (this.list === undefined || now - this.list.readAt >= LIST_TTL_MS) {
      try {
        const doc = await this.source();
        // Never step back to an older generation (an S3 read may lag a write).
        if (this.list === undefined || doc.generation >= this.list.doc.generation) {
          this.list = { doc, accounts: new Set(doc.accounts), readAt: now };
        } else {
          this.list = { ...this.list, readAt: now };
        }
        this.lastFailure = undefined;
      } catch (err) {
        this.lastFailure = `${(err as Error).name}: ${(err as Error).message}`;
      }
    }
    const list = this.list;
    if (list === undefined) {
      return { ok: false, reason: `enrolled list unavailable (${this.lastFailure ?? 'never read'})` };
    }
    const stale = this.lastFailure !== undefined;
    if (stale && now - list.readAt >= STALE_GRACE_MS) {
      return {
        ok: false,
        reason: `enrolled list unavailable for ${Math.round((now - list.readAt) / 1000)} s (${this.lastFailure})`,
      };
    }
    return {
      ok: true,
      accounts: list.accounts,
      generation: list.doc.generation,
      ageMs: Math.max(0, now - Date.parse(list.doc.updatedAt)),
      stale,
    };
  }
}
