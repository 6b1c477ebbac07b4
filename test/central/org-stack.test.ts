/**
 * The org stack: StackSets (targets, auto-deployment, CallAs, ordering), the management
 * account and org-events StackSets behind their switches, and the enrollment reconciler.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

/** The value, or a failed test naming what was missing. */
function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`expected ${what} in the template`);
  return value;
}

type Resources = Record<string, { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] }>;

function stackSets(t: Template): Resources {
  return t.findResources('AWS::CloudFormation::StackSet') as Resources;
}
function stackSetNamed(
  t: Template,
  name: string,
): { id: string; props: Record<string, unknown>; dependsOn: string[] } {
  const entry = Object.entries(stackSets(t)).find(([, r]) => r.Properties.StackSetName === name);
  if (!entry) throw new Error(`no StackSet named ${name}`);
  return { id: entry[0], props: entry[1].Properties, dependsOn: entry[1].DependsOn ?? [] };
}

describe('org stack (example config: management account, home eu-west-1, management covered)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize(exampleConfig());
  });

  it('has the three StackSets plus management and org-events', () => {
    const names = Object.values(stackSets(s.org))
      .map((r) => r.Properties.StackSetName)
      .sort();
    expect(names).toStrictEqual([
      'log-reflector-central',
      'log-reflector-destinations',
      'log-reflector-management',
      'log-reflector-members',
      'log-reflector-org-events',
    ]);
  });

  it('deploys central to the central account in the home region only (service-managed, CallAs SELF)', () => {
    const { props } = stackSetNamed(s.org, 'log-reflector-central');
    expect(props.PermissionModel).toBe('SERVICE_MANAGED');
    expect(props.CallAs).toBe('SELF');
    expect(props.StackInstancesGroup).toStrictEqual([
      {
        DeploymentTargets: {
          AccountFilterType: 'INTERSECTION',
          Accounts: ['222222222222'],
          OrganizationalUnitIds: ['r-a1b2'],
        },
        Regions: ['eu-west-1'],
      },
    ]);
    expect(props.AutoDeployment).toStrictEqual({ Enabled: false });
  });

  it('deploys destinations to the central account in every region, after central', () => {
    const central = stackSetNamed(s.org, 'log-reflector-central');
    const { props, dependsOn } = stackSetNamed(s.org, 'log-reflector-destinations');
    expect(props.StackInstancesGroup).toStrictEqual([
      {
        DeploymentTargets: {
          AccountFilterType: 'INTERSECTION',
          Accounts: ['222222222222'],
          OrganizationalUnitIds: ['r-a1b2'],
        },
        Regions: ['eu-west-1', 'eu-central-1', 'us-east-1'],
      },
    ]);
    expect(dependsOn).toContain(central.id);
  });

  it('deploys members to the target OUs in every region with auto-deployment, after destinations', () => {
    const destinations = stackSetNamed(s.org, 'log-reflector-destinations');
    const { props, dependsOn } = stackSetNamed(s.org, 'log-reflector-members');
    expect(props.PermissionModel).toBe('SERVICE_MANAGED');
    expect(props.CallAs).toBe('SELF');
    expect(props.AutoDeployment).toStrictEqual({ Enabled: true, RetainStacksOnAccountRemoval: false });
    expect(props.ManagedExecution).toStrictEqual({ Active: true });
    expect(props.Capabilities).toStrictEqual(['CAPABILITY_NAMED_IAM']);
    expect(props.StackInstancesGroup).toStrictEqual([
      {
        DeploymentTargets: { AccountFilterType: 'NONE', OrganizationalUnitIds: ['r-a1b2'] },
        Regions: ['eu-west-1', 'eu-central-1', 'us-east-1'],
      },
    ]);
    expect(dependsOn).toContain(destinations.id);
    // Soft failure tolerance: concurrency is MaxConcurrentPercentage, not tolerance + 1.
    expect(props.OperationPreferences).toStrictEqual({
      RegionConcurrencyType: 'PARALLEL',
      MaxConcurrentPercentage: 100,
      FailureTolerancePercentage: 10,
      ConcurrencyMode: 'SOFT_FAILURE_TOLERANCE',
    });
  });

  it('declares every member parameter at the StackSet level, Enrollment disabled, the coverage bucket named (issue 9.3, 9.6, 12.1)', () => {
    // UpdateStackInstances can only override parameters the StackSet specifies, and
    // auto-deployed instances take these values: every instance starts disabled.
    const declared = Object.keys(s.member.toJSON().Parameters ?? {})
      .filter((k) => !k.startsWith('BootstrapVersion'))
      .sort();
    const defaults = s.member.toJSON().Parameters as Record<string, { Default?: unknown }>;
    for (const name of ['log-reflector-members', 'log-reflector-management']) {
      const { props } = stackSetNamed(s.org, name);
      const parameters = props.Parameters as { ParameterKey: string; ParameterValue: string }[];
      expect(parameters.map((p) => p.ParameterKey).sort(), name).toStrictEqual(declared);
      for (const p of parameters) {
        if (p.ParameterKey === 'CoverageBucket') continue;
        expect(p.ParameterValue, `${name} ${p.ParameterKey}`).toBe(
          p.ParameterKey === 'Enrollment' ? 'disabled' : String(defaults[p.ParameterKey]?.Default),
        );
      }
      // The members write their coverage reports to the central state bucket, the one the
      // central StackSet creates and the reconciler publishes the enrolled list to.
      const central = stackSetNamed(s.org, 'log-reflector-central').props.Parameters as typeof parameters;
      expect(parameters.find((p) => p.ParameterKey === 'CoverageBucket')?.ParameterValue).toStrictEqual(
        central.find((p) => p.ParameterKey === 'StateBucketName')?.ParameterValue,
      );
    }
  });

  it('covers the management account with a self-managed StackSet of the same member template', () => {
    const members = stackSetNamed(s.org, 'log-reflector-members');
    const { props } = stackSetNamed(s.org, 'log-reflector-management');
    expect(props.PermissionModel).toBe('SELF_MANAGED');
    expect(props.ExecutionRoleName).toBe('log-reflector-stackset-execution');
    expect(props.TemplateURL).toStrictEqual(members.props.TemplateURL);
    expect(props.StackInstancesGroup).toStrictEqual([
      {
        DeploymentTargets: { Accounts: ['111111111111'] },
        Regions: ['eu-west-1', 'eu-central-1', 'us-east-1'],
      },
    ]);
  });

  it('forwards Organizations events from us-east-1 when the home region is elsewhere', () => {
    const { props } = stackSetNamed(s.org, 'log-reflector-org-events');
    expect(props.StackInstancesGroup).toStrictEqual([
      {
        DeploymentTargets: { Accounts: ['111111111111'] },
        Regions: ['us-east-1'],
      },
    ]);
    s.orgEvents?.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.organizations'],
        detail: Match.objectLike({
          eventName: [
            'TagResource',
            'UntagResource',
            'CreateAccountResult',
            'MoveAccount',
            'AccountJoinedOrganization',
            'RemoveAccountFromOrganization',
            'AccountDepartedOrganization',
          ],
        }),
      },
    });
  });

  it('starts the self-managed StackSets only after their admin and execution roles and those roles’ policies exist', () => {
    const resources = s.org.toJSON().Resources as Resources;
    const roleIds = Object.entries(resources)
      .filter(
        ([, r]) =>
          r.Type === 'AWS::IAM::Role' &&
          ['log-reflector-stackset-admin', 'log-reflector-stackset-execution'].includes(
            r.Properties.RoleName as string,
          ),
      )
      .map(([id]) => id);
    expect(roleIds.length).toBe(2);
    // Policies attached to either role as separate resources (cdk-stacksets adds one to the admin role).
    const policyIds = Object.entries(resources)
      .filter(
        ([, r]) =>
          r.Type === 'AWS::IAM::Policy' &&
          roleIds.some((id) => JSON.stringify(r.Properties.Roles).includes(`"${id}"`)),
      )
      .map(([id]) => id);
    expect(policyIds.length).toBeGreaterThan(0);
    for (const name of ['log-reflector-management', 'log-reflector-org-events']) {
      const { dependsOn } = stackSetNamed(s.org, name);
      expect(dependsOn, name).toEqual(expect.arrayContaining([...roleIds, ...policyIds]));
    }
  });

  it('grants the StackSet execution role * only for the documented StackSets minimum and actions that take no ARN', () => {
    // The full check against the resource handlers' permissions: stackset-execution-role.test.ts.
    const roles = s.org.findResources('AWS::IAM::Role', {
      Properties: { RoleName: 'log-reflector-stackset-execution' },
    }) as Resources;
    const role = Object.values(roles)[0];
    const statements = (
      must(role, 'execution role').Properties.Policies as {
        PolicyDocument: { Statement: { Sid: string; Resource: unknown }[] };
      }[]
    ).flatMap((p) => p.PolicyDocument.Statement);
    const onStar = statements.filter((st) => st.Resource === '*').map((st) => st.Sid);
    expect(onStar).toStrictEqual(['StackSets', 'NoResourceLevelPermissions']);
    for (const st of statements.filter((x) => x.Resource !== '*')) {
      expect(JSON.stringify(st.Resource), st.Sid).toContain('AWS::AccountId');
    }
  });

  it('runs the reconciler with the members StackSet, CallAs, OUs, regions and the opt-out tag', () => {
    s.org.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-enrollment',
      Runtime: 'nodejs24.x',
      Handler: 'index.handler',
      Environment: {
        Variables: Match.objectLike({
          STACK_SET_NAME: 'log-reflector-members',
          CALL_AS: 'SELF',
          TARGET_OU_IDS: 'r-a1b2',
          REGIONS: 'eu-west-1,eu-central-1,us-east-1',
          OPT_OUT_TAG_KEY: 'log-reflector:opt-out',
          OPT_OUT_TAG_VALUE: 'true',
          MANAGEMENT_ACCOUNT_ID: '111111111111',
          MANAGEMENT_STACK_SET_NAME: 'log-reflector-management',
        }),
      },
    });
  });

  it('gives the central StackSet the state bucket name and the reconciler role it must admit', () => {
    const { props } = stackSetNamed(s.org, 'log-reflector-central');
    const parameters = Object.fromEntries(
      (props.Parameters as { ParameterKey: string; ParameterValue: unknown }[]).map((p) => [
        p.ParameterKey,
        p.ParameterValue,
      ]),
    );
    expect(parameters.ReconcilerAccountId).toStrictEqual({ Ref: 'AWS::AccountId' });
    expect(parameters.ReconcilerRoleName).toStrictEqual({
      'Fn::Join': ['', ['log-reflector-enrollment-', { Ref: 'AWS::Region' }]],
    });
    expect(JSON.stringify(parameters.StateBucketName)).toContain('log-reflector-state-');
    // The reconciler's role is exactly that name, and it publishes to that bucket.
    s.org.hasResourceProperties('AWS::IAM::Role', {
      RoleName: { 'Fn::Join': ['', ['log-reflector-enrollment-', { Ref: 'AWS::Region' }]] },
    });
    s.org.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-enrollment',
      Timeout: 900,
      Environment: {
        Variables: Match.objectLike({
          ENROLLED_LIST_BUCKET: parameters.StateBucketName,
          STATE_BUCKET: { Ref: Match.stringLikeRegexp('^ReconcilerState') },
        }),
      },
    });
  });

  it('keeps the reconciler state private and alarms on stuck instances and publish failures', () => {
    s.org.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    for (const name of [
      'log-reflector-enrollment-instances-stuck',
      'log-reflector-enrollment-publish-failures',
    ]) {
      s.org.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: name,
        Namespace: 'LogReflector',
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^ReconcilerAlarmTopic') }],
      });
    }
  });

  it('grants the reconciler only scoped Organizations and StackSet actions', () => {
    const policies = s.org.findResources('AWS::IAM::Policy') as Resources;
    const reconcilerPolicy = Object.entries(policies).find(([id]) => id.startsWith('ReconcilerRole'));
    expect(reconcilerPolicy).toBeDefined();
    const statements = (
      must(reconcilerPolicy, 'reconciler policy')[1].Properties.PolicyDocument as {
        Statement: { Action: string | string[]; Resource: unknown }[];
      }
    ).Statement;
    const update = statements.find((st) =>
      [st.Action].flat().includes('cloudformation:UpdateStackInstances'),
    );
    expect(JSON.stringify(update?.Resource)).toContain('stackset/log-reflector-members:*');
    for (const st of statements) {
      expect([st.Action].flat().some((a) => a.endsWith(':*') || a === '*')).toBe(false);
      expect(st.Resource).not.toBe('*');
    }
  });

  it('triggers the reconciler on a schedule, on Organizations events and after every deploy', () => {
    s.org.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
    s.org.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: ['aws.organizations'] }),
    });
    s.org.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        source: ['aws.cloudformation'],
        'detail-type': ['CloudFormation Stack Status Change'],
      }),
      Targets: [Match.objectLike({ Input: '{"trigger":"deploy"}' })],
    });
  });

  it('keeps every template within the 1 MB CloudFormation/StackSet template limit', () => {
    for (const [file, bytes] of Object.entries(s.sizes)) {
      expect(bytes, file).toBeLessThan(1_000_000);
    }
  });
});

describe('org stack variants', () => {
  it('deploys from a delegated admin with CallAs DELEGATED_ADMIN and no management-account StackSets', () => {
    const config = {
      ...exampleConfig(),
      deployFrom: 'delegated-admin' as const,
      delegatedAdminAccountId: '333333333333',
      coverManagementAccount: false,
    };
    const s = synthesize(config);
    for (const set of Object.values(stackSets(s.org))) {
      expect(set.Properties.CallAs).toBe('DELEGATED_ADMIN');
    }
    const names = Object.values(stackSets(s.org)).map((r) => r.Properties.StackSetName);
    expect(names).not.toContain('log-reflector-management');
    expect(names).not.toContain('log-reflector-org-events');
    s.org.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'log-reflector-enrollment',
      Environment: { Variables: Match.objectLike({ CALL_AS: 'DELEGATED_ADMIN' }) },
    });
  });

  it('needs no forwarder when the home region is us-east-1, and targets the configured OUs', () => {
    const config = {
      ...exampleConfig(),
      homeRegion: 'us-east-1',
      coverManagementAccount: false,
      targetOuIds: ['ou-a1b2-11111111', 'ou-a1b2-22222222'],
    };
    const s = synthesize(config);
    const names = Object.values(stackSets(s.org)).map((r) => r.Properties.StackSetName);
    expect(names).not.toContain('log-reflector-org-events');
    expect(s.orgEvents).toBeUndefined();
    const members = stackSetNamed(s.org, 'log-reflector-members');
    expect(members.props.StackInstancesGroup).toStrictEqual([
      {
        DeploymentTargets: {
          AccountFilterType: 'NONE',
          OrganizationalUnitIds: ['ou-a1b2-11111111', 'ou-a1b2-22222222'],
        },
        Regions: ['eu-west-1', 'eu-central-1', 'us-east-1'],
      },
    ]);
  });
});
