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

/** PUTs the response, retrying network errors and 5xx a few times. */
export const sendResponse: SendResponse = async (responseUrl, response) => {
  const body = responseBody(response);
  let lastProblem = '';
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      const status = await putOnce(responseUrl, body, 10_000);
      if (status >= 200 && status < 300) return;
      lastProblem = `HTTP ${status}`;
      if (status < 500) break;
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    await sleep(backoffDelayMs(attempt, { baseMs: 500, capMs: 5_000 }));
  }
  throw new TransientError(
    `could not deliver the CloudFormation response (${response.Status}): ${lastProblem}`,
  );
};
