/**
 * cdk-nag (AwsSolutions) and cfn-lint over every synthesized template, StackSet templates
 * included. A negative control proves each check can fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../central/app';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

function cfnLint(files: readonly string[]): { status: number; output: string } {
  const res = spawnSync('cfn-lint', ['--ignore-checks', 'W3005', '--', ...files], { encoding: 'utf8' });
  if (res.error) throw new Error(`cannot run cfn-lint (is it on PATH?): ${res.error.message}`);
  return { status: res.status ?? -1, output: `${res.stdout}${res.stderr}` };
}

describe('cdk-nag and cfn-lint', () => {
  let s: Synthesized;
  beforeAll(() => {
    // Synthesis runs the AwsSolutions pack (central/app.ts); an unacknowledged finding throws.
    s = synthesize(exampleConfig());
  });

  it('synthesizes with zero unacknowledged AwsSolutions findings', () => {
    const report = JSON.parse(readFileSync(join(s.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations?: unknown[] }[];
    };
    expect(report.pluginReports.flatMap((r) => r.violations ?? [])).toStrictEqual([]);
  });

  it('gives every acknowledgement a reason', () => {
    const tree = readFileSync(join(s.outdir, 'tree.json'), 'utf8');
    expect(tree.length).toBeGreaterThan(0);
    const manifest = JSON.parse(
      readFileSync(join(s.outdir, 'LogReflectorOrg.metadata.json'), 'utf8').toString() || '{}',
    );
    const acks = Object.values(manifest as Record<string, { type: string; data: Record<string, string> }[]>)
      .flat()
      .filter((m) => m.type === 'aws:cdk:acknowledged-rules')
      .flatMap((m) => Object.entries(m.data));
    expect(acks.length).toBeGreaterThan(5);
    for (const [id, reason] of acks) {
      expect(reason.length, id).toBeGreaterThan(40);
    }
  });

  it('cfn-lint finds no errors in any template, StackSet templates included', () => {
    expect(s.files.length).toBe(5);
    const { status, output } = cfnLint(s.files);
    expect(output).toBe('');
    expect(status).toBe(0);
  });

  it('negative control: the app cdk-nag wiring fails a StackSet template with an unacknowledged finding', () => {
    const app = new App({
      outdir: mkdtempSync(join(tmpdir(), 'nag-neg-')),
      context: { 'log-reflector': exampleConfig() },
    });
    const { stack } = buildApp(app);
    new s3.Bucket(stack.memberTemplate, 'UnloggedBucket');
    expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
  });

  it('negative control: cfn-lint reports an error in a broken template', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lint-neg-')), 'bad.template.json');
    writeFileSync(
      file,
      JSON.stringify({
        Resources: { Q: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 'soon' } } },
      }),
    );
    const { status } = cfnLint([file]);
    expect(status & 2).toBe(2);
  });
});
