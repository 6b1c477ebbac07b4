/**
 * The Sumo URL source: `peek` answers only what `get` or `refresh` already fetched, so the
 * sender may skip the wait only when there is nothing to wait for.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { secretEndpoint, staticEndpoint } from '../../../central/reflector/endpoint';

/** A Secrets Manager client whose secret holds `values[i]` at the i-th call. */
function fakeSecrets(values: string[]): { client: SecretsManagerClient; calls: () => number } {
  let n = 0;
  const client = {
    send: async () => ({ SecretString: values[Math.min(n++, values.length - 1)] }),
  } as unknown as SecretsManagerClient;
  return { client, calls: () => n };
}

describe('EndpointSource.peek', () => {
  it('is the fixed URL of SUMO_ENDPOINT at once', () => {
    expect(staticEndpoint('https://collectors.sumologic.com/receiver/v1/http/A').peek?.()?.href).toBe(
      'https://collectors.sumologic.com/receiver/v1/http/A',
    );
  });

  it('is undefined until the secret was read, then the URL, then the refreshed URL', async () => {
    const secrets = fakeSecrets([
      'https://collectors.sumologic.com/receiver/v1/http/A',
      '{"url":"https://collectors.sumologic.com/receiver/v1/http/B"}',
    ]);
    const source = secretEndpoint(
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sumo',
      secrets.client,
    );
    expect(source.peek?.()).toBeUndefined();
    const pending = source.get();
    expect(source.peek?.()).toBeUndefined();
    expect((await pending).href).toBe('https://collectors.sumologic.com/receiver/v1/http/A');
    expect(source.peek?.()?.href).toBe('https://collectors.sumologic.com/receiver/v1/http/A');
    expect((await source.refresh())?.href).toBe('https://collectors.sumologic.com/receiver/v1/http/B');
    expect(source.peek?.()?.href).toBe('https://collectors.sumologic.com/receiver/v1/http/B');
    expect(secrets.calls()).toBe(2);
  });

  it('stays undefined when the read failed (the next get reads again)', async () => {
    const source = secretEndpoint(
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sumo',
      fakeSecrets(['ftp://x']).client,
    );
    await expect(source.get()).rejects.toThrow(/does not hold an http\(s\) URL/);
    expect(source.peek?.()).toBeUndefined();
  });
});
