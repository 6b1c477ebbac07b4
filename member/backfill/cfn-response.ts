/**
 * Answers a CloudFormation custom resource request: an HTTPS PUT of a JSON body to the
 * presigned S3 ResponseURL, with node's own https (no dependency, so the inline bundle stays
 * small). The presigned URL is signed without a content type, so none is sent
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html).
 * The body must stay under 4,096 bytes, so the reason is cut to fit.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { backoffDelayMs, sleep } from '../../shared/backoff';
import { TransientError } from '../../shared/errors';

/** CloudFormation rejects response bodies of 4,096 bytes or more. */
export const MAX_RESPONSE_BYTES = 4096;
const MAX_REASON_CHARS = 2000;

export interface CfnResponse {
  readonly Status: 'SUCCESS' | 'FAILED';
  readonly Reason?: string;
  readonly PhysicalResourceId: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly NoEcho?: boolean;
  readonly Data?: Readonly<Record<string, string>>;
}

/** Serializes the response, shortening Reason (then dropping Data) until it fits. */
export function responseBody(response: CfnResponse): string {
  let reason = response.Reason;
  if (reason !== undefined && reason.length > MAX_REASON_CHARS)
    reason = `${reason.slice(0, MAX_REASON_CHARS)}…`;
  let body = JSON.stringify({ ...response, ...(reason !== undefined ? { Reason: reason } : {}) });
  if (Buffer.byteLength(body) >= MAX_RESPONSE_BYTES) {
    const { Data: _dropped, ...rest } = response;
    body = JSON.stringify({ ...rest, Reason: (reason ?? '').slice(0, 500) });
  }
  return body;
}

function putOnce(url: string, body: string, timeoutMs: number): Promise<number> {
  const target = new URL(url);
  const send = target.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: 'PUT',
        headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`PUT to the ResponseURL timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export type SendResponse = (responseUrl: string, response: CfnResponse) => Promise<void>;

/**
 * The response could not be delivered. `refused` when S3 answered 4xx (the presigned URL
 * expired or does not match): sending again cannot help.
 */
export class ResponseUndeliveredError extends TransientError {
  readonly refused: boolean;

  constructor(message: string, refused: boolean) {
    super(message);
    this.name = 'ResponseUndeliveredError';
    this.refused = refused;
  }
}

/** PUTs the response, retrying network errors and 5xx a few times. */
export const sendResponse: SendResponse = async (responseUrl, response) => {
  const body = responseBody(response);
  let lastProblem = '';
  let refused = false;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      const status = await putOnce(responseUrl, body, 10_000);
      if (status >= 200 && status < 300) return;
      lastProblem = `HTTP ${status}`;
      if (status < 500) {
        refused = true;
        break;
      }
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    await sleep(backoffDelayMs(attempt, { baseMs: 500, capMs: 5_000 }));
  }
  throw new ResponseUndeliveredError(
    `could not deliver the CloudFormation response (${response.Status}): ${lastProblem}`,
    refused,
  );
};

/**
 * CloudFormation waits for an answer for the custom resource's ServiceTimeout, "from 1 to
 * 3600" seconds, 3600 by default
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-customresource.html);
 * the member stack keeps the default.
 */
export const CUSTOM_RESOURCE_TIMEOUT_MS = 3600_000;

/**
 * When the answer to a request is due, from the request itself: the ResponseURL is an S3
 * presigned URL signed when CloudFormation sent the request (SigV4 `X-Amz-Date`, valid for
 * `X-Amz-Expires` seconds; https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html;
 * older SigV2 URLs carry the absolute `Expires`). The deadline is the earlier of the URL's
 * expiry and the signing time plus the custom resource timeout. A redelivered or late event
 * therefore gets the time that is really left, not a fresh budget. Undefined when the URL
 * carries neither form (then the caller's own budget applies).
 */
export function answerDeadlineMs(responseUrl: string): number | undefined {
  let url: URL;
  try {
    url = new URL(responseUrl);
  } catch {
    return undefined;
  }
  const q = url.searchParams;
  const date = q.get('X-Amz-Date');
  const expires = q.get('X-Amz-Expires');
  if (date && /^\d{8}T\d{6}Z$/.test(date)) {
    const signedAt = Date.UTC(
      Number(date.slice(0, 4)),
      Number(date.slice(4, 6)) - 1,
      Number(date.slice(6, 8)),
      Number(date.slice(9, 11)),
      Number(date.slice(11, 13)),
      Number(date.slice(13, 15)),
    );
    const validMs = expires && /^\d+$/.test(expires) ? Number(expires) * 1000 : CUSTOM_RESOURCE_TIMEOUT_MS;
    return signedAt + Math.min(validMs, CUSTOM_RESOURCE_TIMEOUT_MS);
  }
  const v2 = q.get('Expires');
  if (v2 && /^\d+$/.test(v2)) return Number(v2) * 1000;
  return undefined;
}
