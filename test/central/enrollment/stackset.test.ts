/**
 * The reconciler against the members StackSet exactly as the synthesized org template creates
 * it: the synthesized member template, and the CfnStackSet's own StackSet-level parameters
 * (every member parameter, Enrollment=disabled). Issue 9.3 (the reconciler used to refuse a
 * StackSet without a StackSet-level Enrollment) and 9.6 (opt-out must be fail-closed).
 */
import { DescribeStackSetCommand } from '@aws-sdk/client-cloudformation';
import { CreateOrganizationalUnitCommand, TagResourceCommand } from '@aws-sdk/client-organizations';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { reconcile } from '../../../central/enrollment/reconcile';
import { useMoto } from '../../support/moto';
import { exampleConfig, synthesize } from '../../support/synth';
import { buildWorld, MEMBERS_STACK_SET, OPT_OUT_TAG, REGIONS, type StackSetSpec, type World } from './world';

const moto = useMoto();
let spec: StackSetSpec;
let world: World;

beforeAll(() => {
  const s = synthesize(exampleConfig());
  const sets = s.org.findResources('AWS::CloudFormation::StackSet') as Record<
    string,
    { Properties: { StackSetName: string; Parameters?: StackSetSpec['parameters'] } }
  >;
  const members = Object.values(sets).find((r) => r.Properties.StackSetName === MEMBERS_STACK_SET);
  spec = {
    templateBody: JSON.stringify(s.member.toJSON()),
    parameters: members?.Properties.Parameters ?? [],
  };
}, 120_000);

beforeEach(async () => {
  await moto.reset();
  world = await buildWorld(spec);
});

/** Every Enrollment value the reconciler ever sent for an account. */
function valuesSentTo(account: string): string[] {
  return world
    .takeUpdates()
    .filter((u) => (u.DeploymentTargets?.Accounts ?? []).includes(account))
    .map((u) => u.ParameterOverrides?.find((p) => p.ParameterKey === 'Enrollment')?.ParameterValue ?? '?');
}

describe('reconcile against the StackSet as synthesized', () => {
  it('the StackSet declares every member parameter, Enrollment disabled, and the reconciler accepts it', async () => {
    const described = await world.cfn.send(new DescribeStackSetCommand({ StackSetName: MEMBERS_STACK_SET }));
    const keys = (described.StackSet?.Parameters ?? []).map((p) => p.ParameterKey).sort();
    expect(keys).toStrictEqual(
      Object.keys(JSON.parse(spec.templateBody).Parameters ?? {})
        .filter((k) => !k.startsWith('BootstrapVersion'))
        .sort(),
    );
    expect(described.StackSet?.Parameters?.find((p) => p.ParameterKey === 'Enrollment')?.ParameterValue).toBe(
      'disabled',
    );
    const result = await reconcile(world.config(), world.deps(), { apply: true });
    expect(result.outcomes[0]?.status).toBe('applied');
  });

  it('a tagged account created after the StackSet exists never gets Enrollment=enabled (issue 9.6)', async () => {
    await reconcile(world.config(), world.deps(), { apply: true });
    world.takeUpdates();
    const teamB = (
      await world.org.send(new CreateOrganizationalUnitCommand({ ParentId: world.workloads, Name: 'team-b' }))
    ).OrganizationalUnit?.Id as string;
    const delta = await world.createAccount('delta', teamB, [OPT_OUT_TAG]);

    // Before auto-deployment, while it deploys, after it; with its tags unread (deadline) and read.
    await reconcile(world.config(), world.deps(), { apply: true, priorityAccounts: [delta] });
    await world.deployInstances(teamB); // auto-deployment: StackSet values, no overrides
    await reconcile(world.config(), { ...world.deps(), now: () => 2_000 }, { apply: true, deadline: 1_000 });
    await reconcile(world.config(), world.deps(), { apply: true, priorityAccounts: [delta] });
    await reconcile(world.config(), world.deps(), { apply: true });

    expect(valuesSentTo(delta)).toStrictEqual([]);
    // Its instances run the StackSet's value: disabled. It is never on the enrolled list.
    for (const region of REGIONS) expect(world.overrides.get(`${delta}/${region}`)).toBeUndefined();
    expect(world.published.some((l) => l.accounts.includes(delta))).toBe(false);
  });

  it('an untagged account created after the StackSet exists is published, then enabled, by the event run', async () => {
    await reconcile(world.config(), world.deps(), { apply: true });
    world.takeUpdates();
    world.events.length = 0;
    const teamB = (
      await world.org.send(new CreateOrganizationalUnitCommand({ ParentId: world.workloads, Name: 'team-b' }))
    ).OrganizationalUnit?.Id as string;
    const epsilon = await world.createAccount('epsilon', teamB);
    await world.deployInstances(teamB);
    await reconcile(world.config(), world.deps(), { apply: true, priorityAccounts: [epsilon] });
    expect(valuesSentTo(epsilon)).toStrictEqual(['enabled']);
    const publishedAt = world.events.findIndex((e) => e.startsWith('publish') && e.includes(epsilon));
    const enabledAt = world.events.indexOf(`update enabled ${epsilon}`);
    expect(publishedAt).toBeGreaterThanOrEqual(0);
    expect(enabledAt).toBeGreaterThan(publishedAt);
  });

  it('tagging an enrolled account takes it off the list before its instances are disabled', async () => {
    const { alpha } = world.accounts;
    await reconcile(world.config(), world.deps(), { apply: true });
    world.events.length = 0;
    await world.org.send(new TagResourceCommand({ ResourceId: alpha, Tags: [OPT_OUT_TAG] }));
    await reconcile(world.config(), world.deps(), { apply: true, priorityAccounts: [alpha] });
    const unlistedAt = world.events.findIndex((e) => e.startsWith('publish') && !e.includes(alpha));
    const disabledAt = world.events.indexOf(`update disabled ${alpha}`);
    expect(unlistedAt).toBeGreaterThanOrEqual(0);
    expect(disabledAt).toBeGreaterThan(unlistedAt);
  });
});
