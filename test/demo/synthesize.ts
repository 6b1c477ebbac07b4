/**
 * Synthesizes the deployment in-process from the example configuration (cdk.json) with the
 * emulated organization's ids, by the same OrgStack `cdk synth` builds (central/app.ts).
 *
 * Checks are not run here: neither cdk-nag nor aws-cdk-lib's built-in CloudFormation
 * validation (a WebAssembly rule engine, ~4 s of CPU) changes anything in the templates, and
 * `npm run synth` runs both.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { OrgStack, STACK_SET_NAMES } from '../../central/org-stack';
import { type DeploymentConfigInput, loadDeploymentConfig } from '../../shared/config';
import { type CfnTemplate, TemplateError, TemplateReader } from './cfn-template';
import type { Deployment, StackSetDefinition } from './deployment';

function stackSetDefinition(org: TemplateReader, name: string): StackSetDefinition | undefined {
  const ids = org.find('AWS::CloudFormation::StackSet', (p) => p.StackSetName === name);
  if (ids.length === 0) return undefined;
  const id = ids[0] as string;
  const p = (key: string) => org.property(id, key);
  const params: Record<string, string> = {};
  for (const entry of (p('Parameters') as { ParameterKey: string; ParameterValue: string }[] | undefined) ??
    [])
    params[entry.ParameterKey] = String(entry.ParameterValue);
  const groups =
    (p('StackInstancesGroup') as
      | { DeploymentTargets?: { OrganizationalUnitIds?: string[]; Accounts?: string[] }; Regions: string[] }[]
      | undefined) ?? [];
  return {
    name,
    permissionModel: p('PermissionModel') === 'SERVICE_MANAGED' ? 'SERVICE_MANAGED' : 'SELF_MANAGED',
    callAs: p('CallAs') as string | undefined,
    autoDeployment: p('AutoDeployment') as StackSetDefinition['autoDeployment'],
    parameters: params,
    instanceGroups: groups.map((g) => ({
      organizationalUnitIds: g.DeploymentTargets?.OrganizationalUnitIds ?? [],
      accounts: g.DeploymentTargets?.Accounts ?? [],
      regions: g.Regions,
    })),
  };
}

/** Synthesizes the org stack (and every StackSet template) for `input`; takes a few seconds. */
export function synthesizeDeployment(input: DeploymentConfigInput): Deployment {
  const outdir = mkdtempSync(join(tmpdir(), 'log-reflector-demo-synth-'));
  try {
    const app = new App({
      outdir,
      context: { 'log-reflector': input },
      builtinCloudFormationValidation: false,
    });
    const config = loadDeploymentConfig((key) => app.node.tryGetContext(key));
    // The same construction as central/app.ts (buildApp), without the cdk-nag plugin.
    const stack = new OrgStack(app, 'LogReflectorOrg', {
      stackName: 'log-reflector-org',
      env: { account: config.managementAccountId, region: config.homeRegion },
      config,
    });
    app.synth();
    const read = (file: string) => JSON.parse(readFileSync(join(outdir, file), 'utf8')) as CfnTemplate;
    const org = read(stack.templateFile);
    // What CloudFormation gives the org stack when it creates it; the central state bucket's
    // name is derived from it (central/org-stack.ts).
    const orgStackId = `arn:aws:cloudformation:${config.homeRegion}:${config.managementAccountId}:stack/${stack.stackName}/${randomUUID()}`;
    const orgReader = new TemplateReader(org, {
      account: config.managementAccountId,
      region: config.homeRegion,
      stackName: stack.stackName,
      stackId: orgStackId,
      parameters: {},
    });
    const required = (name: string) => {
      const def = stackSetDefinition(orgReader, name);
      if (!def) throw new TemplateError(`the org template has no StackSet ${name}`);
      return def;
    };
    const management = stackSetDefinition(orgReader, STACK_SET_NAMES.management);
    return {
      config,
      orgStackName: stack.stackName,
      orgStackId,
      org,
      member: read(stack.memberTemplate.templateFile),
      central: read(stack.centralTemplate.templateFile),
      stackSets: {
        central: required(STACK_SET_NAMES.central),
        members: required(STACK_SET_NAMES.members),
        ...(management ? { management } : {}),
      },
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
