/**
 * Synthesizes the whole org deployment for a configuration, once, the way `cdk synth` does
 * (cdk-nag included), and hands back every template: the org stack's and each StackSet's.
 * Used by the CDK tests; never talks to AWS.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../central/app';
import type { DeploymentConfigInput } from '../../shared/config';
import { PROJECT_ROOT } from '../../shared/constructs/bundle';

/** The example configuration committed in cdk.json (what `npm run synth` uses). */
export function exampleConfig(): DeploymentConfigInput {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8'));
  return structuredClone(cdkJson.context['log-reflector']);
}

export interface Synthesized {
  readonly outdir: string;
  readonly org: Template;
  readonly central: Template;
  readonly destination: Template;
  readonly member: Template;
  readonly orgEvents: Template | undefined;
  /** Bytes of each template file, by file name. */
  readonly sizes: Readonly<Record<string, number>>;
  /** Template file paths (org + StackSets), for cfn-lint. */
  readonly files: readonly string[];
}

export function synthesize(config: DeploymentConfigInput): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'log-reflector-synth-'));
  const app = new App({ outdir, context: { 'log-reflector': config } });
  buildApp(app);
  app.synth();
  const files = readdirSync(outdir)
    .filter((f) => f.endsWith('.template.json'))
    .map((f) => join(outdir, f));
  const find = (part: string) => files.find((f) => f.includes(part));
  const load = (part: string) => {
    const file = find(part);
    if (!file) throw new Error(`no template matching ${part} in ${outdir}: ${files.join(', ')}`);
    return Template.fromJSON(JSON.parse(readFileSync(file, 'utf8')));
  };
  const sizes = Object.fromEntries(files.map((f) => [f.slice(outdir.length + 1), statSync(f).size]));
  return {
    outdir,
    org: load('LogReflectorOrg.template.json'),
    central: load('CentralTemplate'),
    destination: load('DestinationTemplate'),
    member: load('MemberTemplate'),
    orgEvents: find('OrgEventsTemplate') ? load('OrgEventsTemplate') : undefined,
    sizes,
    files,
  };
}
