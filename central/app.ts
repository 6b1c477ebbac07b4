/**
 * The CDK app: `cdk synth` / `cdk deploy` from the management account (or the delegated
 * admin). Synthesizes the org stack, which carries every StackSet template. cdk-nag
 * (AwsSolutions) checks every stack, StackSet templates included, during synthesis.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadDeploymentConfig } from '../shared/config';
import { ConfigError } from '../shared/errors';
import { OrgStack } from './org-stack';

export function buildApp(app: App = new App()): { app: App; stack: OrgStack } {
  const config = loadDeploymentConfig((key) => app.node.tryGetContext(key));
  const stack = new OrgStack(app, 'LogReflectorOrg', {
    stackName: 'log-reflector-org',
    env: {
      account:
        config.deployFrom === 'management' ? config.managementAccountId : config.delegatedAdminAccountId,
      region: config.homeRegion,
    },
    config,
    description: 'log-reflector: org-wide CloudWatch Logs forwarding to Sumo Logic',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

if (process.argv[1]?.endsWith('app.ts')) {
  try {
    buildApp().app.synth();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
