/**
 * Reading and writing the coverage data in the central state bucket: the members' reports
 * (`coverage/<account>/<region>.json`) and the cleanup workers' (`coverage/<account>/cleanup/<region>.json`), the index the aggregator builds from them, and the
 * enrolled list (`enrollment/accounts.json`) the totals are computed against. Used by the
 * aggregator Lambda (central/coverage/handler.ts) and by `log-reflector coverage`.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  type CleanupReport,
  COVERAGE_INDEX_KEY,
  COVERAGE_PREFIX,
  type CoverageIndex,
  CoverageIndexSchema,
  type CoverageReport,
  parseCleanupReport,
  parseCleanupReportKey,
  parseCoverageReport,
  parseCoverageReportKey,
} from '../../shared/coverage';
import { ENROLLED_LIST_KEY, type EnrolledList, EnrolledListSchema } from '../../shared/enrollment';

/**
 * The largest report read. A report is well under 2 KB; the bucket policy lets any organization
 * account write under its own prefix, so an object there may be anything, GBs included. One
 * larger than this is reported unreadable without its body being read: the aggregator and the
 * CLI hold at most this many bytes per lane.
 */
export const MAX_REPORT_BYTES = 64 * 1024;

/** Reports read at once by default: S3 serves thousands of GETs a second per prefix; this hides latency. */
export const DEFAULT_READ_CONCURRENCY = 32;

export interface ListedReport {
  readonly key: string;
  readonly lastModified: number | undefined;
}

/** Every report key under `coverage/`, coverage and cleanup reports (other keys are ignored), page by page. */
export async function listReportKeys(
  s3: S3Client,
  bucket: string,
  onPage?: (listedSoFar: number) => void,
): Promise<ListedReport[]> {
  const keys: ListedReport[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: COVERAGE_PREFIX, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      if (o.Key && (parseCoverageReportKey(o.Key) || parseCleanupReportKey(o.Key))) {
        keys.push({ key: o.Key, lastModified: o.LastModified?.getTime() });
      }
    }
    onPage?.(keys.length);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

export interface ReadReports {
  readonly reports: CoverageReport[];
  /** The cleanup workers' progress reports (keys under `coverage/<account>/cleanup/`). */
  readonly cleanups: CleanupReport[];
  /** Reports that could not be read or parsed, with the reason (never dropped silently). */
  readonly unreadable: { key: string; reason: string }[];
}

/** Reads and validates `keys`, `concurrency` at a time; `onRead` after each one. */
export async function readReports(
  s3: S3Client,
  bucket: string,
  keys: readonly string[],
  options: { concurrency?: number; onRead?: () => void } = {},
): Promise<ReadReports> {
  const reports: CoverageReport[] = [];
  const cleanups: CleanupReport[] = [];
  const unreadable: { key: string; reason: string }[] = [];
  let next = 0;
  const lane = async () => {
    while (next < keys.length) {
      const key = keys[next] as string;
      next += 1;
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (out.ContentLength === undefined || out.ContentLength > MAX_REPORT_BYTES) {
          (out.Body as { destroy?: () => void } | undefined)?.destroy?.();
          throw new RangeError(
            `report is ${out.ContentLength ?? 'of unknown size'} bytes; a report is at most ${MAX_REPORT_BYTES}: not read`,
          );
        }
        const body = (await out.Body?.transformToString()) ?? '';
        if (parseCleanupReportKey(key)) cleanups.push(parseCleanupReport(body, key));
        else reports.push(parseCoverageReport(body, key));
      } catch (err) {
        unreadable.push({ key, reason: `${(err as Error).name}: ${(err as Error).message}` });
      }
      options.onRead?.();
    }
  };
  const lanes = Math.max(1, Math.min(options.concurrency ?? DEFAULT_READ_CONCURRENCY, keys.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  const byKey = (a: { account: string; region: string }, b: { account: string; region: string }) =>
    a.account === b.account ? (a.region < b.region ? -1 : 1) : a.account < b.account ? -1 : 1;
  reports.sort(byKey);
  cleanups.sort(byKey);
  unreadable.sort((a, b) => (a.key < b.key ? -1 : 1));
  return { reports, cleanups, unreadable };
}

function isMissing(err: unknown): boolean {
  const name = (err as Error).name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

/** The published enrolled list; undefined when none was published yet. */
export async function readEnrolledList(s3: S3Client, bucket: string): Promise<EnrolledList | undefined> {
  let text: string;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: ENROLLED_LIST_KEY }));
    text = (await out.Body?.transformToString()) ?? '';
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  const parsed = EnrolledListSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(
      `s3://${bucket}/${ENROLLED_LIST_KEY} is not a version-1 enrolled list: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

/** The index the aggregator wrote last; undefined when there is none yet. */
export async function readIndex(s3: S3Client, bucket: string): Promise<CoverageIndex | undefined> {
  let bytes: Uint8Array;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: COVERAGE_INDEX_KEY }));
    bytes = (await out.Body?.transformToByteArray()) ?? new Uint8Array();
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  const where = `s3://${bucket}/${COVERAGE_INDEX_KEY}`;
  let json: unknown;
  try {
    json = JSON.parse(gunzipSync(bytes).toString('utf8'));
  } catch (err) {
    throw new Error(`${where} is not gzip'd JSON: ${(err as Error).message}`);
  }
  const parsed = CoverageIndexSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${where} is not a version-1 index at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

export async function writeIndex(s3: S3Client, bucket: string, index: CoverageIndex): Promise<number> {
  const body = gzipSync(JSON.stringify(index));
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: COVERAGE_INDEX_KEY,
      Body: body,
      ContentType: 'application/json',
      ContentEncoding: 'gzip',
    }),
  );
  return body.length;
}
