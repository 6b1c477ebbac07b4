import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RATE_LIMIT_RPS,
  loadMemberEnv,
  MemberEnvSchema,
  sameSettings,
  settingsFromProperties,
} from '../../../member/runtime/env';
import { ConfigError } from '../../../shared/errors';

const ENV = {
  DESTINATION_ARN: 'arn:aws:logs:eu-west-1:111122223333:destination:log-reflector',
  SENDER_ROLE_ARN: 'arn:aws:iam::444455556666:role/log-reflector-sender',
  FILTER_NAME: 'log-reflector-eu-west-1',
  FILTER_PATTERN: '',
  INCLUDE: '',
  EXCLUDE: '/aws/vpc/*, audit-*',
  ENROLLMENT: 'enabled',
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('MemberEnvSchema', () => {
  it('parses the environment into settings, with defaults', () => {
    expect(loadMemberEnv(ENV)).toStrictEqual({
      destinationArn: ENV.DESTINATION_ARN,
      roleArn: ENV.SENDER_ROLE_ARN,
      filterName: ENV.FILTER_NAME,
      filterPattern: '',
      include: [],
      exclude: ['/aws/vpc/*', 'audit-*'],
      enrollment: 'enabled',
      rateLimitRps: DEFAULT_RATE_LIMIT_RPS,
      filterSlots: 2,
      scope: 'log-group',
    });
    expect(
      MemberEnvSchema.safeParse({ ...ENV, RATE_LIMIT_RPS: '2.5', FILTER_SLOTS: '5' }).data,
    ).toMatchObject({
      rateLimitRps: 2.5,
      filterSlots: 5,
    });
  });

  it('names every bad variable and the value received', () => {
    const error = configError(() =>
      loadMemberEnv({
        ...ENV,
        DESTINATION_ARN: 'nope',
        ENROLLMENT: 'maybe',
        INCLUDE: 'ok,bad glob',
        RATE_LIMIT_RPS: '0',
        SENDER_ROLE_ARN: undefined,
      }),
    );
    expect(error.name).toBe('ConfigError');
    expect(error.issues).toStrictEqual([
      {
        path: 'DESTINATION_ARN',
        message: 'must be a logs destination, Kinesis, Firehose or Lambda ARN',
        received: 'nope',
      },
      { path: 'SENDER_ROLE_ARN', message: 'is required', received: undefined },
      {
        path: 'INCLUDE',
        message:
          'glob "bad glob" may only hold log group name characters [.-_/#A-Za-z0-9] and the wildcards * and ?',
        received: 'ok,bad glob',
      },
      { path: 'ENROLLMENT', message: 'must be one of enabled, disabled', received: 'maybe' },
      { path: 'RATE_LIMIT_RPS', message: 'must be positive', received: '0' },
    ]);
    expect(error.message).toContain('DESTINATION_ARN: must be a logs destination');
  });

  it('rejects a filter name with a colon or star, and non-integer slots', () => {
    const error = configError(() => loadMemberEnv({ ...ENV, FILTER_NAME: 'a:b', FILTER_SLOTS: '1.5' }));
    expect(error.issues.map((i) => i.path)).toStrictEqual(['FILTER_NAME', 'FILTER_SLOTS']);
  });
});

describe('settingsFromProperties', () => {
  const props = {
    ServiceToken: 'arn:aws:lambda:eu-west-1:444455556666:function:log-reflector-backfill',
    DestinationArn: ENV.DESTINATION_ARN,
    SenderRoleArn: ENV.SENDER_ROLE_ARN,
    FilterName: ENV.FILTER_NAME,
    FilterPattern: '',
    Include: '',
    Exclude: '/aws/vpc/*, audit-*',
    Enrollment: 'enabled',
  };

  it('gives the same settings as the mirrored environment', () => {
    expect(sameSettings(settingsFromProperties(props, {}), loadMemberEnv(ENV))).toBe(true);
    expect(settingsFromProperties(props, { RATE_LIMIT_RPS: '2' }).rateLimitRps).toBe(2);
  });

  it('names properties, not variables, in its errors', () => {
    const error = configError(() =>
      settingsFromProperties({ ...props, Enrollment: 'off', DestinationArn: undefined }, {}),
    );
    expect(error.message.startsWith('Invalid backfill resource properties:')).toBe(true);
    expect(error.issues).toStrictEqual([
      { path: 'DestinationArn', message: 'is required', received: undefined },
      { path: 'Enrollment', message: 'must be one of enabled, disabled', received: 'off' },
    ]);
  });
});
