/**
 * The management account's StackSet execution role (central/org-stack.ts) against what
 * CloudFormation's resource handlers need for every resource type the member and org-events
 * templates use. The list comes from the published resource provider schemas
 * (`handlers.*.permissions`); data/stackset-execution-permissions.json keeps it with its source
 * and test/tools/provider-permissions.py regenerates it. A template that gains a resource type,
 * or a schema that gains an action, fails here until the role covers it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

interface Permissions {
  readonly source: Readonly<Record<string, string>>;
  readonly types: Readonly<
    Record<string, { readonly handlers: Readonly<Record<string, readonly string[]>> }>
  >;
  /** Resource types each action accepts (Service Authorization Reference); [] = only "*". */
  readonly actionResourceTypes: Readonly<Record<string, readonly string[]>>;
  readonly notIamActions: Readonly<Record<string, string>>;
}

const PERMISSIONS = JSON.parse(
  readFileSync(join(__dirname, 'data', 'stackset-execution-permissions.json'), 'utf8'),
) as Permissions;

interface Statement {
  readonly Sid?: string;
  readonly Effect: string;
  readonly Action: string | readonly string[];
  readonly Resource: unknown;
}

/**
 * The one statement allowed on "*" for actions that take ARNs: the minimum AWS documents for
 * every StackSet execution role, `cloudformation:*` and `s3:*` on "*"
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-prereqs-self-managed.html).
 */
const DOCUMENTED_STACKSETS_SID = 'StackSets';

/** ARN pieces of the resource types we name `log-reflector-*` (the rest carry generated ids). */
const NAMEABLE_ARN =
  /:function:|:role\/|:log-group:|:sqs:|:rule\/|:deliverystream\/|:layer:|:capacity-provider:/;

/** A synthesized Resource rendered as a string: Fn::Join flattened, Refs as `<Name>`. */
function render(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const join = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) return join[1].map(render).join(join[0]);
  const ref = (resource as { Ref?: string }).Ref;
  return ref ? `<${ref}>` : JSON.stringify(resource);
}

/** IAM action matching: `*` and `?` wildcards, case-insensitive. */
function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(action);
}

const actionsOf = (st: Statement) => [st.Action].flat() as string[];
const resourcesOf = (st: Statement) => [st.Resource].flat().map(render);

/** What the role lacks or grants too widely, given the template's resource types. */
function check(types: readonly string[], statements: readonly Statement[], p: Permissions = PERMISSIONS) {
  const missingTypes = types.filter((t) => !p.types[t]).sort();
  const required = [...new Set(types.flatMap((t) => Object.values(p.types[t]?.handlers ?? {}).flat()))]
    .filter((a) => !p.notIamActions[a])
    .sort();
  const allow = statements.filter((st) => st.Effect === 'Allow');
  const allowing = (a: string) =>
    allow.filter((st) => actionsOf(st).some((pattern) => actionMatches(pattern, a)));
  const uncovered = required.filter((a) => allowing(a).length === 0);
  const unscoped: string[] = [];
  for (const a of required) {
    if ((p.actionResourceTypes[a] ?? []).length === 0) continue;
    for (const st of allowing(a)) {
      if (st.Sid !== DOCUMENTED_STACKSETS_SID && resourcesOf(st).includes('*')) unscoped.push(`${a} on *`);
    }
  }
  for (const st of allow) {
    for (const r of resourcesOf(st)) {
      if (NAMEABLE_ARN.test(r) && !r.includes('log-reflector-')) unscoped.push(`${st.Sid}: ${r}`);
    }
    // A "*" statement may only hold actions that take no ARN (or be the documented minimum).
    if (st.Sid !== DOCUMENTED_STACKSETS_SID && resourcesOf(st).includes('*')) {
      for (const a of actionsOf(st)) {
        const types = p.actionResourceTypes[a];
        if (types === undefined || types.length > 0) unscoped.push(`${st.Sid}: ${a} on *`);
      }
    }
  }
  return { missingTypes, uncovered, unscoped };
}

describe('management-account StackSet execution role', () => {
  let s: Synthesized;
  let types: string[];
  let statements: Statement[];
  beforeAll(() => {
    s = synthesize(exampleConfig());
    const templates = [s.member, s.orgEvents].flatMap((t) => (t ? [t.toJSON()] : []));
    expect(templates).toHaveLength(2);
    types = [
      ...new Set(
        templates.flatMap((t) =>
          Object.values(t.Resources as Record<string, { Type: string }>).map((r) => r.Type),
        ),
      ),
    ].sort();
    const role = Object.values(
      s.org.findResources('AWS::IAM::Role', { Properties: { RoleName: 'log-reflector-stackset-execution' } }),
    )[0] as { Properties: { Policies: { PolicyDocument: { Statement: Statement[] } }[] } } | undefined;
    statements = (role?.Properties.Policies ?? []).flatMap((p) => p.PolicyDocument.Statement);
  });

  it('keeps its data with its source', () => {
    expect(PERMISSIONS.source.handlers).toMatch(/terraform-provider-awscc@[0-9a-f]{40}/);
    expect(PERMISSIONS.source.resourceTypes).toContain('Service Authorization Reference');
    // The actions the issue names are in the data, so the check is not vacuous.
    const all = Object.values(PERMISSIONS.types).flatMap((t) => Object.values(t.handlers).flat());
    for (const a of [
      'lambda:GetPolicy',
      'iam:ListAttachedRolePolicies',
      'lambda:GetRuntimeManagementConfig',
    ]) {
      expect(all).toContain(a);
    }
  });

  it('knows the handler permissions of every resource type the member and org-events templates use', () => {
    expect(types).toContain('AWS::Lambda::Function');
    expect(check(types, statements).missingTypes).toStrictEqual([]);
  });

  it('allows every action those handlers declare', () => {
    expect(statements.length).toBeGreaterThan(5);
    expect(check(types, statements).uncovered).toStrictEqual([]);
  });

  it('scopes every action that takes an ARN: log-reflector-* where we name the resource, this account otherwise', () => {
    expect(check(types, statements).unscoped).toStrictEqual([]);
  });

  it('negative control: a new resource type, a dropped action and an unscoped grant are all reported', () => {
    const dropped = statements.map((st) => ({
      ...st,
      Action: actionsOf(st).filter((a) => a !== 'lambda:GetRuntimeManagementConfig'),
    }));
    const r = check(
      [...types, 'AWS::SNS::Topic'],
      [...dropped, { Sid: 'Wide', Effect: 'Allow', Action: 'lambda:GetFunction', Resource: '*' }],
    );
    expect(r.missingTypes).toStrictEqual(['AWS::SNS::Topic']);
    expect(r.uncovered).toStrictEqual(['lambda:GetRuntimeManagementConfig']);
    expect(r.unscoped).toStrictEqual(['lambda:GetFunction on *', 'Wide: lambda:GetFunction on *']);
  });
});
