/**
 * The answer's deadline comes from the request's presigned ResponseURL (issue 15.7): SigV4's
 * X-Amz-Date + X-Amz-Expires, capped at the custom resource timeout (one hour), or SigV2's
 * absolute Expires.
 */
import { describe, expect, it } from 'vitest';
import { answerDeadlineMs, CUSTOM_RESOURCE_TIMEOUT_MS } from '../../../member/backfill/cfn-response';

const S3 =
  'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws%3Acloudformation/x';

describe('answerDeadlineMs', () => {
  it('SigV4: signing time plus the shorter of X-Amz-Expires and the custom resource timeout', () => {
    const signed = Date.UTC(2026, 0, 5, 12, 0, 0);
    expect(
      answerDeadlineMs(
        `${S3}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260105T120000Z&X-Amz-Expires=7200&X-Amz-Signature=ab`,
      ),
    ).toBe(signed + CUSTOM_RESOURCE_TIMEOUT_MS);
    expect(answerDeadlineMs(`${S3}?X-Amz-Date=20260105T120000Z&X-Amz-Expires=600`)).toBe(signed + 600_000);
  });

  it('SigV2: the absolute Expires', () => {
    expect(answerDeadlineMs(`${S3}?AWSAccessKeyId=AKIA&Expires=1767618000&Signature=x`)).toBe(1767618000_000);
  });

  it('undefined when the URL carries no signature time (the caller keeps its own budget)', () => {
    expect(answerDeadlineMs('http://127.0.0.1:4000/cfn-response/a?X-Amz-Signature=test')).toBeUndefined();
    expect(answerDeadlineMs(`${S3}?X-Amz-Date=yesterday`)).toBeUndefined();
    expect(answerDeadlineMs('not a url')).toBeUndefined();
  });
});
