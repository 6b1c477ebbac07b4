import { describe, expect, it } from 'vitest';
import { loadReflectorEnv } from '../../central/reflector/env';
import { loadMemberEnv } from '../../member/runtime/env';
import {
  ownLogGroupNames,
  renderSelectionCriteria,
  SELECTION_CRITERIA_MAX_BYTES,
  utf8Bytes,
} from '../../shared/account-policy';
import { loadDeploymentConfig, parseDeploymentConfig, renderSumoFields } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { parseStaticFields } from '../../shared/sumo/headers';
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
    expect(c.filter).toStrictEqual({ name: 'log-reflector', pattern: '', scope: 'log-group' });
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

/** The reflector's environment as the central stack renders it from a (raw) config. */
function reflectorEnvOf(sumo: { categoryTemplate?: string; fields?: Record<string, string> }) {
  return {
    SUMO_ENDPOINT_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:222222222222:secret:s-AbCdEf',
    FAILURE_BUCKET: 'failure-bucket',
    ...(sumo.categoryTemplate === undefined ? {} : { SUMO_CATEGORY_TEMPLATE: sumo.categoryTemplate }),
    SUMO_FIELDS: renderSumoFields(sumo.fields ?? {}),
  };
}

/** The member functions' environment as the member stack renders it from a (raw) config. */
function memberEnvOf(logGroups: { include?: string[]; exclude?: string[] }) {
  return {
    DESTINATION_ARN: 'arn:aws:logs:eu-west-1:222222222222:destination:log-reflector',
    SENDER_ROLE_ARN: 'arn:aws:iam::333333333333:role/log-reflector-sender-eu-west-1',
    FILTER_NAME: 'log-reflector-eu-west-1',
    INCLUDE: (logGroups.include ?? []).join(','),
    EXCLUDE: ['/aws/lambda/log-reflector-*', ...(logGroups.exclude ?? [])].join(','),
    ENROLLMENT: 'enabled',
  };
}

describe('one schema, two readers: what a function would reject fails the synth', () => {
  it('positive control: the example config renders environments both runtimes accept', () => {
    const raw = exampleConfig() as { sumo: { categoryTemplate: string; fields: Record<string, string> } } & {
      logGroups: { include: string[]; exclude: string[] };
    };
    expect(() => parseDeploymentConfig(raw)).not.toThrow();
    expect(loadReflectorEnv(reflectorEnvOf(raw.sumo)).SUMO_FIELDS).toBe('org=example');
    expect(loadMemberEnv(memberEnvOf(raw.logGroups)).exclude).toContain('/aws/lambda/*-canary*');
  });

  it('names an unknown top-level key and the closest known one (a typo is no longer dropped)', () => {
    const err = rejects((c) => {
      c.alarmEmails = 'ops@example.com';
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'alarmEmails',
        message: 'is not a known field (did you mean "alarmEmail"?)',
        received: 'ops@example.com',
      },
    ]);
  });

  it('names unknown keys inside nested objects and inside the Kinesis mode union', () => {
    const err = rejects((c) => {
      c.reflector = { batchSise: 100 };
      c.kinesis = { mode: 'on-demand', retentionHour: 48 };
      c.optOutTag = { key: 'k', vaule: 'v' };
    });
    expect(err.issues).toStrictEqual(
      expect.arrayContaining([
        {
          path: 'reflector.batchSise',
          message: 'is not a known field (did you mean "batchSize"?)',
          received: 100,
        },
        {
          path: 'kinesis.retentionHour',
          message: 'is not a known field (did you mean "retentionHours"?)',
          received: 48,
        },
        { path: 'optOutTag.vaule', message: 'is not a known field (did you mean "value"?)', received: 'v' },
      ]),
    );
    expect(err.issues).toHaveLength(3);
  });

  it('rejects an unknown {placeholder} in the category template, as the reflector would', () => {
    const template = 'aws/{acount}/{logGroup}';
    const err = rejects((c) => {
      c.sumo = { categoryTemplate: template };
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'sumo.categoryTemplate',
        message: 'unknown placeholder {acount}; use {account}, {region}, {logGroup}, {logStream}',
        received: template,
      },
    ]);
    expect(() => loadReflectorEnv(reflectorEnvOf({ categoryTemplate: template }))).toThrow(ConfigError);
  });

  it.each([
    ['a value with "="', { team: 'a=b' }, 'sumo.fields.team', 'a=b'],
    ['an empty value', { team: '' }, 'sumo.fields.team', ''],
    ['a value with a line break', { team: 'a\nb' }, 'sumo.fields.team', 'a\nb'],
  ])('rejects Sumo fields the header builder rejects: %s', (_, fields, path, received) => {
    const err = rejects((c) => {
      c.sumo = { fields };
    });
    expect(err.issues).toStrictEqual([{ path, message: expect.stringContaining('key=value'), received }]);
    expect(() => loadReflectorEnv(reflectorEnvOf({ fields }))).toThrow(ConfigError);
  });

  it('rejects a field value with a comma, which SUMO_FIELDS would read back as other fields', () => {
    const fields = { team: 'core,env=prod' };
    const err = rejects((c) => {
      c.sumo = { fields };
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'sumo.fields.team',
        message: expect.stringContaining('would be read back as [["team","core"],["env","prod"]]'),
        received: 'core,env=prod',
      },
    ]);
    // The runtime reader does not fail here: it silently reads two fields. That is why synth must.
    expect(parseStaticFields(renderSumoFields(fields))).toStrictEqual([
      ['team', 'core'],
      ['env', 'prod'],
    ]);
  });

  it('rejects include/exclude globs the member runtime rejects, naming the element', () => {
    const err = rejects((c) => {
      c.logGroups = { include: ['/aws/lambda/*'], exclude: ['/aws/lambda/my app*'] };
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'logGroups.exclude.0',
        message: expect.stringContaining('may only hold log group name characters'),
        received: '/aws/lambda/my app*',
      },
    ]);
    expect(() => loadMemberEnv(memberEnvOf({ exclude: ['/aws/lambda/my app*'] }))).toThrow(ConfigError);
  });

  it('rejects a max record age longer than the stream keeps records', () => {
    const err = rejects((c) => {
      c.kinesis = { mode: 'on-demand', retentionHours: 24 };
      c.reflector = { maxRecordAgeSeconds: 172_800 };
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'reflector.maxRecordAgeSeconds',
        message:
          'must not exceed the stream retention (kinesis.retentionHours 24 = 86400 s): older records would expire from the stream before the event source mapping parks them in the failure bucket',
        received: 172_800,
      },
    ]);
  });
});

/** The member environment the stack renders in account scope: our own names first, by exact name. */
function accountMemberEnvOf(logGroups: { include?: string[]; exclude?: string[] }) {
  return {
    ...memberEnvOf({}),
    INCLUDE: (logGroups.include ?? []).join(','),
    EXCLUDE: [...ownLogGroupNames('0a1b2c3d'), ...(logGroups.exclude ?? [])].join(','),
    SCOPE: 'account',
  };
}

describe('filter.scope (issue 14): what an account-level policy cannot express fails the synth', () => {
  const account = (c: Record<string, unknown>, logGroups: { include?: string[]; exclude?: string[] }) => {
    c.filter = { name: 'log-reflector', scope: 'account' };
    c.logGroups = logGroups;
  };

  it('defaults to log-group and accepts account with exact excluded names (positive control)', () => {
    expect(parseDeploymentConfig(exampleConfig()).filter.scope).toBe('log-group');
    const raw = exampleConfig() as Record<string, unknown>;
    account(raw, { exclude: ['/aws/lambda/noisy', '/ecs/debug'] });
    expect(parseDeploymentConfig(raw).filter).toStrictEqual({
      name: 'log-reflector',
      pattern: '',
      scope: 'account',
    });
    const settings = loadMemberEnv(accountMemberEnvOf({ exclude: ['/aws/lambda/noisy', '/ecs/debug'] }));
    expect(settings.scope).toBe('account');
    expect(settings.exclude).toContain('/aws/lambda/log-reflector-reflector');
  });

  it('rejects an unknown scope and suggests the key for a typo', () => {
    expect(rejects((c) => (c.filter = { scope: 'organization' })).issues[0]?.path).toBe('filter.scope');
    expect(rejects((c) => (c.filter = { scop: 'account' })).issues).toStrictEqual([
      { path: 'filter.scop', message: 'is not a known field (did you mean "scope"?)', received: 'account' },
    ]);
  });

  it('rejects include globs: a policy covers everything but what NOT IN names', () => {
    const err = rejects((c) => account(c, { include: ['/app/*'] }));
    expect(err.issues).toStrictEqual([
      {
        path: 'logGroups.include.0',
        message: expect.stringContaining('account scope cannot include a subset'),
        received: '/app/*',
      },
    ]);
    expect(err.message).toContain('LogGroupName NOT IN []');
    expect(() => loadMemberEnv(accountMemberEnvOf({ include: ['/app/*'] }))).toThrow(/INCLUDE/);
  });

  it('rejects wildcard excludes, naming the element, and the runtime reader does too', () => {
    const err = rejects((c) => account(c, { exclude: ['/ecs/debug', '/aws/lambda/*-canary*', '/x/y?'] }));
    expect(err.issues.map((i) => [i.path, i.received])).toStrictEqual([
      ['logGroups.exclude.1', '/aws/lambda/*-canary*'],
      ['logGroups.exclude.2', '/x/y?'],
    ]);
    expect(err.issues[0]?.message).toContain('account scope takes exact log group names');
    expect(() => loadMemberEnv(accountMemberEnvOf({ exclude: ['/aws/lambda/*-canary*'] }))).toThrow(
      /exact log group names/,
    );
    // The same globs are fine in log-group scope.
    const raw = exampleConfig() as Record<string, unknown>;
    raw.logGroups = { exclude: ['/aws/lambda/*-canary*'] };
    expect(() => parseDeploymentConfig(raw)).not.toThrow();
  });

  it('rejects more names than the 25 KB selection criteria hold, and accepts the most that fit', () => {
    // Names of 500 characters; the criteria string is LogGroupName NOT IN ["…","…"] in UTF-8 bytes.
    const names = (n: number) =>
      Array.from({ length: n }, (_, i) => `/g/${String(i).padStart(3, '0')}${'x'.repeat(493)}`);
    const own = ownLogGroupNames('00000000');
    const fits = (n: number) =>
      utf8Bytes(renderSelectionCriteria([...own, ...names(n)])) <= SELECTION_CRITERIA_MAX_BYTES;
    let most = 0;
    while (fits(most + 1)) most += 1;
    expect(most).toBeGreaterThan(40);
    const ok = exampleConfig() as Record<string, unknown>;
    account(ok, { exclude: names(most) });
    expect(() => parseDeploymentConfig(ok)).not.toThrow();
    const err = rejects((c) => account(c, { exclude: names(most + 1) }));
    expect(err.issues).toStrictEqual([
      {
        path: 'logGroups.exclude',
        message: expect.stringMatching(/over the 25000-byte limit/),
        received: names(most + 1),
      },
    ]);
    expect(() => loadMemberEnv(accountMemberEnvOf({ exclude: names(most + 1) }))).toThrow(/25000-byte/);
    expect(() => loadMemberEnv(accountMemberEnvOf({ exclude: names(most) }))).not.toThrow();
  });

  it('rejects a filter name too long to name the policy in every region', () => {
    const err = rejects((c) => {
      c.filter = { name: 'n'.repeat(245), scope: 'account' };
      c.logGroups = {};
    });
    expect(err.issues).toStrictEqual([
      {
        path: 'filter.name',
        message: expect.stringContaining('at most 256 characters'),
        received: 'n'.repeat(245),
      },
    ]);
  });
});
