import { describe, expect, it } from 'vitest';
import { EnrollmentEnvSchema, parseEnrollmentEnv } from '../../../central/enrollment/env';
import { ConfigError } from '../../../shared/errors';

const VALID = {
  STACK_SET_NAME: 'log-reflector-members',
  CALL_AS: 'DELEGATED_ADMIN',
  TARGET_OU_IDS: 'ou-ab12-cdef3456, r-ab12,ou-ab12-cdef3456',
  REGIONS: 'eu-west-1,us-east-1',
  OPT_OUT_TAG_KEY: 'acme:no-logs',
  OPT_OUT_TAG_VALUE: 'yes',
  MANAGEMENT_ACCOUNT_ID: '111122223333',
  MANAGEMENT_STACK_SET_NAME: 'log-reflector-management',
  STATE_BUCKET: 'log-reflector-org-reconcilerstate1a2b',
  ENROLLED_LIST_BUCKET: 'log-reflector-state-0d6c8e9a-1b2c-4d5e-8f90-a1b2c3d4e5f6',
};

describe('EnrollmentEnvSchema', () => {
  it('parses the full environment, splitting and de-duplicating lists', () => {
    expect(parseEnrollmentEnv(VALID)).toStrictEqual({
      stackSetName: 'log-reflector-members',
      callAs: 'DELEGATED_ADMIN',
      targetOuIds: ['ou-ab12-cdef3456', 'r-ab12'],
      regions: ['eu-west-1', 'us-east-1'],
      optOut: { key: 'acme:no-logs', value: 'yes' },
      managementAccountId: '111122223333',
      managementStackSetName: 'log-reflector-management',
      stateBucket: 'log-reflector-org-reconcilerstate1a2b',
      enrolledListBucket: 'log-reflector-state-0d6c8e9a-1b2c-4d5e-8f90-a1b2c3d4e5f6',
    });
  });

  it('defaults the opt-out tag and treats an empty management StackSet name as off', () => {
    const { OPT_OUT_TAG_KEY: _k, OPT_OUT_TAG_VALUE: _v, ...rest } = VALID;
    const parsed = EnrollmentEnvSchema.parse({ ...rest, MANAGEMENT_STACK_SET_NAME: ' ' });
    expect(parsed.optOut).toStrictEqual({ key: 'log-reflector:opt-out', value: 'true' });
    expect(parsed.managementStackSetName).toBeUndefined();
  });

  it('reports every bad variable with the value received', () => {
    const error = (() => {
      try {
        parseEnrollmentEnv({
          ...VALID,
          CALL_AS: 'ROOT',
          TARGET_OU_IDS: 'ou-1',
          REGIONS: '',
          MANAGEMENT_ACCOUNT_ID: '12',
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toStrictEqual([
      {
        path: 'CALL_AS',
        message: 'must be SELF or DELEGATED_ADMIN',
        received: 'ROOT',
      },
      { path: 'TARGET_OU_IDS', message: '"ou-1" is not an OU id (ou-…) or root id (r-…)', received: 'ou-1' },
      { path: 'REGIONS', message: 'must list at least one AWS region name', received: '' },
      { path: 'MANAGEMENT_ACCOUNT_ID', message: 'must be a 12-digit account id', received: '12' },
    ]);
    expect((error as ConfigError).name).toBe('ConfigError');
  });

  it('requires the StackSet name', () => {
    const { STACK_SET_NAME: _name, ...rest } = VALID;
    expect(() => parseEnrollmentEnv(rest)).toThrow(
      'Invalid enrollment environment:\n  - STACK_SET_NAME: is required (received undefined)',
    );
  });
});
