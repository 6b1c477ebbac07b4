/**
 * The account-level subscription filter policy (`filter.scope: "account"`): what ours looks
 * like, what its selection criteria can express, and the checks both readers run (the deployment
 * config at synth time, the member functions' environment at cold start). Pure: no AWS calls.
 * docs/member.md, "Two scopes", explains the mode and its limits.
 *
 * AWS facts this rests on (PutAccountPolicy API reference,
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutAccountPolicy.html):
 * - "Each account can have one account-level subscription filter policy per Region. If you are
 *   updating an existing filter, you must specify the correct name in PolicyName."
 * - selectionCriteria: for SUBSCRIPTION_FILTER_POLICY "the only supported selectionCriteria
 *   filter is LogGroupName NOT IN []"; "The selectionCriteria string can be up to 25KB in
 *   length. The length is determined by using its UTF-8 bytes."
 * - "Account-level and log-group-level subscription filters are additive. A log group can have
 *   up to 1 account-level and up to 2 log-group-level subscription filters."
 */
import { FUNCTION_NAMES, RESOURCE_PREFIX } from './naming';

/** How member accounts attach to the destination: a filter per log group, or one policy per account and region. */
export const SUBSCRIPTION_SCOPES = ['log-group', 'account'] as const;
export type SubscriptionScope = (typeof SUBSCRIPTION_SCOPES)[number];
export const DEFAULT_SUBSCRIPTION_SCOPE: SubscriptionScope = 'log-group';

/** PutAccountPolicy `policyType` of ours. */
export const SUBSCRIPTION_FILTER_POLICY = 'SUBSCRIPTION_FILTER_POLICY';

/**
 * "up to 25KB ... determined by using its UTF-8 bytes". The page does not say whether a KB is
 * 1,000 or 1,024 bytes; we take the smaller reading, so nothing we accept can be refused.
 */
export const SELECTION_CRITERIA_MAX_BYTES = 25_000;

/** PutAccountPolicy policyName: 1–256 characters without ':' or '*' (AWS::Logs::AccountPolicy PolicyName). */
export const POLICY_NAME_MAX_LENGTH = 256;
export const POLICY_NAME = /^[^:*]{1,256}$/;

/**
 * Our policy delivers like our per-group filters do: grouped by log stream, the documented
 * default of a subscription's `distribution` ("By default, log data is grouped by log stream",
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/subscription-concepts.html). Written
 * explicitly so the stored document says it.
 */
export const POLICY_DISTRIBUTION = 'ByLogStream';

/** The cleanup worker's names start with this (member/cleanup/job.ts), followed by the install id. */
export const CLEANUP_PREFIX = `${RESOURCE_PREFIX}cleanup-`;

/** An install id as the member stack derives it (first 8 hex digits of the stack id's UUID). */
export const INSTALL_ID_LENGTH = 8;

/**
 * Every log group of a function we create, by exact name: `LogGroupName NOT IN` takes exact
 * names, not the `/aws/lambda/log-reflector-*` glob the per-group planner uses. Every function
 * of every template is in FUNCTION_NAMES or is the cleanup worker
 * (test/member/member-stack.test.ts walks every synthesized template for functions). The reflector's own
 * group matters most: in the central account's home region the policy delivers to the stream
 * the reflector reads, and forwarding its logs would feed the pipeline with itself.
 */
export function ownLogGroupNames(installId?: string): string[] {
  return [
    ...Object.values(FUNCTION_NAMES).map((name) => `/aws/lambda/${name}`),
    ...(installId === undefined ? [] : [`/aws/lambda/${CLEANUP_PREFIX}${installId}`]),
  ];
}

/** `LogGroupName NOT IN ["a","b"]`, in the documented form; names deduplicated, order kept. */
export function renderSelectionCriteria(names: readonly string[]): string {
  return `LogGroupName NOT IN ${JSON.stringify([...new Set(names)])}`;
}

/** The names of a `LogGroupName NOT IN [...]` criteria string; undefined when it has another form. */
export function parseSelectionCriteria(criteria: string | undefined): string[] | undefined {
  if (criteria === undefined || criteria.trim() === '') return [];
  const match = /^\s*LogGroupName\s+NOT\s+IN\s*(\[.*\])\s*$/s.exec(criteria);
  if (!match) return undefined;
  try {
    const names: unknown = JSON.parse(match[1] as string);
    return Array.isArray(names) && names.every((n) => typeof n === 'string') ? names : undefined;
  } catch {
    return undefined;
  }
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Why include/exclude cannot be expressed by an account-level policy's selection criteria,
 * one message per problem (empty: they can). `exclude` is the operator's list; our own log
 * groups are added to it (ownLogGroupNames) before the size is measured.
 */
export function accountScopeProblems(
  include: readonly string[],
  exclude: readonly string[],
  ownNames: readonly string[] = ownLogGroupNames('0'.repeat(INSTALL_ID_LENGTH)),
): { readonly field: 'include' | 'exclude'; readonly index?: number; readonly message: string }[] {
  const problems: { field: 'include' | 'exclude'; index?: number; message: string }[] = [];
  include.forEach((_pattern, index) => {
    problems.push({
      field: 'include',
      index,
      message: `account scope cannot include a subset: an account-level subscription policy covers every log group except the ones its selection criteria name ("the only supported selectionCriteria filter is LogGroupName NOT IN []", PutAccountPolicy). Leave include empty, or use scope "log-group"`,
    });
  });
  exclude.forEach((pattern, index) => {
    if (/[*?]/.test(pattern)) {
      problems.push({
        field: 'exclude',
        index,
        message: `account scope takes exact log group names: "LogGroupName NOT IN []" has no wildcards, so ${JSON.stringify(pattern)} would exclude only a group named exactly that. List the names, or use scope "log-group"`,
      });
    }
  });
  const criteria = renderSelectionCriteria([...ownNames, ...exclude]);
  const bytes = utf8Bytes(criteria);
  if (bytes > SELECTION_CRITERIA_MAX_BYTES) {
    problems.push({
      field: 'exclude',
      message: `too many names for an account-level policy: its selection criteria would be ${bytes} bytes (our ${ownNames.length} own log groups plus ${exclude.length} excluded), over the ${SELECTION_CRITERIA_MAX_BYTES}-byte limit ("The selectionCriteria string can be up to 25KB in length", PutAccountPolicy)`,
    });
  }
  return problems;
}

/** The fields of our policy document (PutAccountPolicy, "Subscription filter policy"). */
export interface PolicyDocument {
  readonly DestinationArn: string;
  readonly RoleArn: string;
  readonly FilterPattern: string;
  readonly Distribution: string;
}

export function renderPolicyDocument(fields: {
  readonly destinationArn: string;
  readonly roleArn: string;
  readonly filterPattern: string;
}): string {
  const document: PolicyDocument = {
    DestinationArn: fields.destinationArn,
    RoleArn: fields.roleArn,
    FilterPattern: fields.filterPattern,
    Distribution: POLICY_DISTRIBUTION,
  };
  return JSON.stringify(document);
}

/** A stored policy document read back; fields missing or not strings come back undefined. */
export function parsePolicyDocument(text: string | undefined): Partial<PolicyDocument> {
  if (text === undefined) return {};
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object') return {};
    const out: Record<string, string> = {};
    for (const key of ['DestinationArn', 'RoleArn', 'FilterPattern', 'Distribution']) {
      const v = (value as Record<string, unknown>)[key];
      if (typeof v === 'string') out[key] = v;
    }
    return out as Partial<PolicyDocument>;
  } catch {
    return {};
  }
}
