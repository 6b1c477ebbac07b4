#!/usr/bin/env node
// `npm run synth`: synthesizes the org stack and every StackSet template for the
// configuration in cdk.json (or -c config=PATH passed after `--`) into cdk.out/, with cdk-nag
// (AwsSolutions) checking every stack during synthesis, then runs cfn-lint over every
// template. Exits non-zero on any nag error, any cfn-lint error, or a template over its limit.
// W3005 (CDK's redundant DependsOn) is ignored: CDK emits DependsOn that CloudFormation already infers.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const OUT = 'cdk.out';
/** CloudFormation template body via S3 (StackSets too): 1 MB. */
const TEMPLATE_LIMIT_BYTES = 1_000_000;
const extra = process.argv.slice(2);
const env = { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' };

function run(cmd, args) {
  const started = Date.now();
  const res = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (res.error) {
    console.error(`synth: cannot run ${cmd}: ${res.error.message}`);
    process.exit(2);
  }
  return { status: res.status ?? 1, seconds: (Date.now() - started) / 1000 };
}

rmSync(OUT, { recursive: true, force: true });
const synth = run('npx', ['cdk', 'synth', '--quiet', '--output', OUT, ...extra]);
if (synth.status !== 0) {
  console.error('synth: cdk synth failed (see cdk-nag or config errors above)');
  process.exit(synth.status);
}

const templates = readdirSync(OUT)
  .filter((f) => f.endsWith('.template.json'))
  .map((f) => join(OUT, f))
  .sort();
let failed = false;
console.log(`\nsynth: ${templates.length} templates in ${synth.seconds.toFixed(1)} s`);
for (const t of templates) {
  const bytes = statSync(t).size;
  const over = bytes > TEMPLATE_LIMIT_BYTES;
  failed ||= over;
  console.log(`  ${t}  ${(bytes / 1024).toFixed(1)} KiB${over ? '  OVER the 1 MB template limit' : ''}`);
}

const lint = run('cfn-lint', ['--ignore-checks', 'W3005', '--', ...templates]);
// cfn-lint exit codes are a bitmask: 2 = error, 4 = warning, 8 = informational.
const lintErrors = (lint.status & 2) !== 0 || lint.status === 1;
console.log(
  `synth: cfn-lint ${lint.status === 0 ? 'clean' : lintErrors ? 'found ERRORS' : `exit ${lint.status} (warnings only)`}`,
);
if (lintErrors || failed) process.exit(1);
console.log('synth: cdk-nag clean (AwsSolutions), cfn-lint without errors');
