/**
 * cdk-nag acknowledgements, one finding at a time. cdk-nag 3 reports a rule with findings
 * (e.g. AwsSolutions-IAM5) per finding, `Rule[Finding]`, and an acknowledgement covers
 * exactly one; so every wildcard we keep is named here with its reason, not waved through
 * by rule.
 */

import type { CfnElement } from 'aws-cdk-lib';
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Acknowledges `rule[finding]` for each finding on `scope`, all with the same reason. */
export function acknowledgeFindings(
  scope: IConstruct,
  rule: string,
  findings: readonly string[],
  reason: string,
): void {
  for (const finding of findings) Validations.of(scope).acknowledge({ id: `${rule}[${finding}]`, reason });
}

/** How cdk-nag renders `Fn::GetAtt` of a resource in findings: `<LogicalId.Attr>`. */
export function nagRef(element: CfnElement, attribute: string): string {
  return `<${Stack.of(element).resolve(element.logicalId)}.${attribute}>`;
}
