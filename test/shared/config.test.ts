import { describe, expect, it } from 'vitest';
import { loadDeploymentConfig, parseDeploymentConfig } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { exampleConfig } from '../support/synth';

/** Parses, expecting a ConfigError; returns it for the assertions. */
function rejects(patch: (c: Record<string, unknown>) => void): ConfigError {
  const raw = exampleConfig() as Record<string, unknown>;
  patch(raw);
  try {
    parseDeploymentConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('deployment config', () => {
  it('accepts the committed example and applies defaults', () => {
    const c = parseDeploymentConfig(exampleConfig());
    expect(c.homeRegion).toBe('eu-west-1');
    expect(c.targetOuIds).toStrictEqual(['r-a1b2']);
    expect(c.optOutTag).toStrictEqual({ key: 'log-reflector:opt-out', value: 'true' });
  });

  it('defaults the target OUs to the organization root', () => {
    const raw = exampleConfig() as Record<string, unknown>;
    delete raw.targetOuIds;
    expect(parseDeploymentConfig(raw).targetOuIds).toStrictEqual(['r-a1b2']);
  });

  it('fills every default from the minimal config', () => {
    const c = parseDeploymentConfig({
      organizationId: 'o-a1b2c3d4e5',
      organizationRootId: 'r-a1b2',
      managementAccountId: '111111111111',
      centralAccountId: '222222222222',
      homeRegion: 'us-east-1',
      regions: ['us-east-1'],
    });
    expect(c.kinesis).toStrictEqual({ mode: 'on-demand', retentionHours: 24 });
    expect(c.deployFrom).toBe('management');
    expect(c.filter).toStrictEqual({ name: 'log-reflector', pattern: '' });
    expect(c.coverManagementAccount).toBe(false);
  });

  it('rejects a 10-digit account id, naming the field and the value', () => {
    const err = rejects((c) => {
      c.managementAccountId = '1234567890';
    });
    expect(err.issues).toStrictEqual([
      { path: 'managementAccountId', message: 'must be a 12-digit AWS account id', received: '1234567890' },
    ]);
    expect(err.message).toContain(
      'managementAccountId: must be a 12-digit AWS account id (received "1234567890")',
    );
  });

  it('rejects an unknown region in the region list', () => {
    const err = rejects((c) => {
      c.regions = ['eu-west-1', 'eu-wets-2'];
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'regions.1',
        message: 'is not a known AWS commercial region (see shared/regions.ts)',
        received: 'eu-wets-2',
      },
    ]);
  });

  it('rejects an unknown home region', () => {
    const err = rejects((c) => {
      c.homeRegion = 'mars-north-1';
    });
    expect(err.issues[0]?.path).toBe('homeRegion');
    expect(err.issues[0]?.received).toBe('mars-north-1');
  });

  it('rejects an OU id of the wrong shape', () => {
    const err = rejects((c) => {
      c.targetOuIds = ['ou-123'];
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'targetOuIds.0',
        message: 'must be an organization root id (r-xxxx) or OU id (ou-xxxx-xxxxxxxx)',
        received: 'ou-123',
      },
    ]);
  });

  it('rejects a central account equal to the management account', () => {
    const err = rejects((c) => {
      c.centralAccountId = c.managementAccountId;
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'centralAccountId',
        message:
          'must differ from managementAccountId (service-managed StackSets never deploy to the management account)',
        received: '111111111111',
      },
    ]);
  });

  it('rejects an empty region list', () => {
    const err = rejects((c) => {
      c.regions = [];
    });
    expect(err.issues).toStrictEqual([
      { path: 'regions', message: 'must list at least one region', received: [] },
    ]);
  });

  it('rejects a home region that is not in the region list', () => {
    const err = rejects((c) => {
      c.homeRegion = 'us-west-2';
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'homeRegion',
        message: 'must be one of regions (eu-west-1, eu-central-1, us-east-1)',
        received: 'us-west-2',
      },
    ]);
  });

  it('rejects a repeated region', () => {
    const err = rejects((c) => {
      c.regions = ['eu-west-1', 'eu-west-1'];
    });
    expect(err.issues[0]?.path).toBe('regions');
    expect(err.issues[0]?.message).toBe('must not repeat a region');
  });

  it('rejects an organization id of the wrong shape', () => {
    const err = rejects((c) => {
      c.organizationId = 'org-123';
    });
    expect(err.issues[0]).toStrictEqual({
      path: 'organizationId',
      message: 'must be an organization id like o-a1b2c3d4e5',
      received: 'org-123',
    });
  });

  it('requires a shard count in provisioned mode', () => {
    const err = rejects((c) => {
      c.kinesis = { mode: 'provisioned' };
    });
    expect(err.issues[0]?.path).toBe('kinesis.shardCount');
  });

  it('rejects an unknown Kinesis mode', () => {
    const err = rejects((c) => {
      c.kinesis = { mode: 'serverless' };
    });
    expect(err.issues[0]?.path).toBe('kinesis.mode');
    expect(err.issues[0]?.received).toBe('serverless');
  });

  it('rejects a batch size over the event source mapping limit', () => {
    const err = rejects((c) => {
      c.reflector = { batchSize: 20_000 };
    });
    expect(err.issues[0]?.path).toBe('reflector.batchSize');
    expect(err.issues[0]?.received).toBe(20_000);
  });

  it('rejects a filter name with a colon', () => {
    const err = rejects((c) => {
      c.filter = { name: 'a:b' };
    });
    expect(err.issues[0]).toStrictEqual({
      path: 'filter.name',
      message: 'must not contain ":" or "*"',
      received: 'a:b',
    });
  });

  it('requires the delegated admin account when deploying from one', () => {
    const err = rejects((c) => {
      c.deployFrom = 'delegated-admin';
      c.coverManagementAccount = false;
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'delegatedAdminAccountId',
        message: 'is required when deployFrom is delegated-admin',
        received: undefined,
      },
    ]);
  });

  it('rejects an unknown line context', () => {
    const err = rejects((c) => {
      c.sumo = { lineContext: 'minimal' };
    });
    expect(err.issues[0]?.path).toBe('sumo.lineContext');
    expect(err.issues[0]?.received).toBe('minimal');
  });

  it('rejects both a secret name and a secret ARN', () => {
    const err = rejects((c) => {
      c.sumo = {
        secretName: 'x',
        secretArn: 'arn:aws:secretsmanager:eu-west-1:222222222222:secret:x-AbCdEf',
      };
    });
    expect(err.issues[0]?.path).toBe('sumo.secretArn');
    expect(err.issues[0]?.message).toBe('set secretName or secretArn, not both');
  });

  it('lists every bad field at once', () => {
    const err = rejects((c) => {
      c.managementAccountId = 'abc';
      c.organizationId = 'o-1';
      c.regions = [];
    });
    expect(err.issues.map((i) => i.path).sort()).toStrictEqual([
      'managementAccountId',
      'organizationId',
      'regions',
    ]);
  });

  it('loads a file named with -c config=PATH and names a missing one', () => {
    expect(() =>
      loadDeploymentConfig((k) => (k === 'config' ? '/nonexistent/config.json' : undefined)),
    ).toThrow(/config: cannot read file: .*\(received "\/nonexistent\/config.json"\)/);
  });

  it('says where to put the configuration when there is none', () => {
    expect(() => loadDeploymentConfig(() => undefined)).toThrow(
      /no configuration: set the "log-reflector" context/,
    );
  });
});
