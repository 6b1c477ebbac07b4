/** The destination template: one per region, org-only access policy, home stream target. */
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

describe('destination stack template', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize(exampleConfig());
  });

  it('creates the log-reflector destination targeting the home-region stream with the logs role', () => {
    const dest = Object.values(s.destination.findResources('AWS::Logs::Destination'))[0] as {
      Properties: Record<string, unknown>;
    };
    expect(dest.Properties.DestinationName).toBe('log-reflector');
    expect(JSON.stringify(dest.Properties.TargetArn)).toContain(':stream/log-reflector');
    expect(JSON.stringify(dest.Properties.TargetArn)).toContain('"Ref":"HomeRegion"');
    expect(JSON.stringify(dest.Properties.RoleArn)).toContain(':role/log-reflector-logs-to-kinesis');
  });

  it('opens the destination to the organization id only', () => {
    const dest = Object.values(s.destination.findResources('AWS::Logs::Destination'))[0] as {
      Properties: { DestinationPolicy: unknown };
    };
    const policy = JSON.stringify(dest.Properties.DestinationPolicy);
    expect(policy).toContain('\\"Principal\\":\\"*\\"');
    expect(policy).toContain('aws:PrincipalOrgID');
    expect(policy).toContain('"Ref":"OrganizationId"');
    // Exactly the one action a log-group subscription needs (CreateDestination.html); an
    // account-level subscription policy (PutAccountPolicy) is not a mode we deploy.
    expect(policy).toContain('\\"Action\\":\\"logs:PutSubscriptionFilter\\"');
    expect(policy).not.toContain('PutAccountPolicy');
    expect(s.destination.toJSON().Parameters.OrganizationId.Default).toBe('o-a1b2c3d4e5');
    // The rendered policy stays far under the 5,120-byte limit.
    expect(policy.length).toBeLessThan(5120);
  });
});
