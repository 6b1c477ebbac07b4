/**
 * Settings that depend on an account's quotas fail in exactly the accounts auto-enrollment exists
 * for: new ones. New AWS accounts start with reduced Lambda concurrency
 * (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), and Lambda only lets
 * a function reserve "up to the Unreserved account concurrency value that is shown, minus 100"
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html): with 10, any
 * reservation fails with "decreases account's UnreservedConcurrentExecution below its minimum
 * value". So no template we synthesize (the org stack and every StackSet template) may reserve or
 * provision concurrency.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig, type Synthesized, synthesize } from '../support/synth';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

/** Per template: `<template>/<logical id>: <what>` for every quota-dependent setting found. */
function quotaDependentSettings(templates: Readonly<Record<string, unknown>>): string[] {
  const found: string[] = [];
  for (const [name, template] of Object.entries(templates)) {
    const resources = ((template as { Resources?: Resources }).Resources ?? {}) as Resources;
    for (const [id, r] of Object.entries(resources)) {
      const p = r.Properties ?? {};
      if (r.Type === 'AWS::Lambda::Function' && p.ReservedConcurrentExecutions !== undefined) {
        found.push(
          `${name}/${id}: ReservedConcurrentExecutions ${JSON.stringify(p.ReservedConcurrentExecutions)}`,
        );
      }
      if (
        (r.Type === 'AWS::Lambda::Alias' || r.Type === 'AWS::Lambda::Version') &&
        p.ProvisionedConcurrencyConfig !== undefined
      ) {
        found.push(`${name}/${id}: ProvisionedConcurrencyConfig`);
      }
    }
  }
  return found;
}

describe('settings a new account cannot satisfy', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize(exampleConfig());
  });

  it('no function in any template reserves or provisions concurrency', () => {
    const templates = {
      org: s.org.toJSON(),
      central: s.central.toJSON(),
      destination: s.destination.toJSON(),
      member: s.member.toJSON(),
      ...(s.orgEvents ? { orgEvents: s.orgEvents.toJSON() } : {}),
    };
    // Every template is walked, functions included (a walker that saw nothing would pass).
    const functions = Object.values(templates).flatMap((t) =>
      Object.values((t as { Resources: Resources }).Resources).filter(
        (r) => r.Type === 'AWS::Lambda::Function',
      ),
    );
    // reconciler, reflector, coverage aggregator, subscriber, backfill, sweep, cleanup worker.
    expect(functions.length).toBe(7);
    expect(quotaDependentSettings(templates)).toStrictEqual([]);
  });

  it('negative control: the walker reports a reservation and a provisioned alias', () => {
    const template = {
      Resources: {
        Fn: { Type: 'AWS::Lambda::Function', Properties: { ReservedConcurrentExecutions: 1 } },
        Live: {
          Type: 'AWS::Lambda::Alias',
          Properties: { ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 1 } },
        },
        Other: { Type: 'AWS::Lambda::Function', Properties: {} },
      },
    };
    expect(quotaDependentSettings({ t: template })).toStrictEqual([
      't/Fn: ReservedConcurrentExecutions 1',
      't/Live: ProvisionedConcurrencyConfig',
    ]);
  });
});
