/**
 * The AWS calls around the cleanup worker: how the backfill starts it, and how the worker
 * keeps its job, looks for a live install and deletes itself. Each is scoped in IAM to the one
 * resource it names (member/member-stack.ts); docs/member.md explains the lifecycle.
 */
import {
  DeleteRuleCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { DeleteRoleCommand, DeleteRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import {
  DeleteFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { FUNCTION_NAMES } from '../../shared/naming';
import {
  CLEANUP_POLICY_NAMES,
  CLEANUP_SCHEDULE,
  CLEANUP_TARGET_ID,
  type CleanupJob,
  cleanupFunctionName,
  cleanupRoleName,
  cleanupRuleName,
} from './job';

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string }).name ?? '';
  return name === 'ResourceNotFoundException' || name === 'NoSuchEntityException' || name === 'NoSuchEntity';
}

/** The worker's ARN, set by the stack on the backfill and on the worker (Lambda has no account id variable). */
function functionArn(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const arn = env.CLEANUP_FUNCTION_ARN;
  if (!arn?.endsWith(`:function:${name}`))
    throw new Error(`CLEANUP_FUNCTION_ARN must name the function ${name}, received ${JSON.stringify(arn)}`);
  return arn;
}

/**
 * The backfill's side: create (or overwrite) the worker's schedule with the job as its input,
 * then invoke the worker once so it starts now rather than at the first tick. The schedule is
 * what makes the worker outlive a lost invocation; the lease in the job keeps a tick that
 * arrives during a run from doing the same work twice.
 */
export function createCleanupStarter(
  env: Readonly<Record<string, string | undefined>>,
  clients: { events?: EventBridgeClient; lambda?: LambdaClient } = {},
): (job: CleanupJob) => Promise<void> {
  const events = clients.events ?? new EventBridgeClient({});
  const lambda = clients.lambda ?? new LambdaClient({});
  return async (job) => {
    const rule = cleanupRuleName(job.installId);
    const fn = cleanupFunctionName(job.installId);
    const arn = functionArn(env, fn);
    await events.send(
      new PutRuleCommand({
        Name: rule,
        ScheduleExpression: CLEANUP_SCHEDULE,
        State: 'ENABLED',
        Description: `log-reflector cleanup (${job.kind}) of ${job.filterName ?? job.policyName ?? '(nothing)'}: removes our filters${job.policyName ? ' and account policy' : ''}`,
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: rule,
        Targets: [{ Id: CLEANUP_TARGET_ID, Arn: arn, Input: JSON.stringify(job) }],
      }),
    );
    try {
      await lambda.send(
        new InvokeCommand({
          FunctionName: fn,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify(job)),
        }),
      );
    } catch {
      // The schedule starts it within one period.
    }
  };
}

/** What the worker learns about the install that owns the member functions now. */
export interface LiveInstall {
  readonly installId?: string | undefined;
  readonly filterName?: string | undefined;
  /** SCOPE of the live functions (absent: a version before account scope, i.e. log-group). */
  readonly scope?: string | undefined;
  readonly enrollment?: string | undefined;
}

export interface CleanupControl {
  /** Writes the job back as the schedule's input (the next tick resumes from it). */
  saveJob(job: CleanupJob): Promise<void>;
  /** The live install's backfill function, if any (undefined: none exists). */
  liveInstall(): Promise<LiveInstall | undefined>;
  /** Removes the schedule (target, then rule). */
  removeSchedule(): Promise<void>;
  /**
   * Deletes the worker's function, then its role's inline policies, then the role. Returns
   * whether the role is gone: IAM needs a role's policies deleted before the role
   * (https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteRole.html), and the last
   * policy is the one that allows DeleteRole, so the final call can be refused once the
   * deletion of that policy has taken effect. The role then remains without any permission.
   */
  deleteSelf(): Promise<{ roleDeleted: boolean; error?: string }>;
}

export function createCleanupControl(
  env: Readonly<Record<string, string | undefined>>,
  clients: { events?: EventBridgeClient; lambda?: LambdaClient; iam?: IAMClient } = {},
): CleanupControl {
  const installId = env.INSTALL_ID ?? '';
  const region = env.AWS_REGION ?? '';
  const events = clients.events ?? new EventBridgeClient({});
  const lambda = clients.lambda ?? new LambdaClient({});
  const iam = clients.iam ?? new IAMClient({});
  const rule = cleanupRuleName(installId);
  const fn = cleanupFunctionName(installId);
  const role = cleanupRoleName(installId, region);
  return {
    async saveJob(job) {
      await events.send(
        new PutTargetsCommand({
          Rule: rule,
          Targets: [{ Id: CLEANUP_TARGET_ID, Arn: functionArn(env, fn), Input: JSON.stringify(job) }],
        }),
      );
    },
    async liveInstall() {
      try {
        const out = await lambda.send(
          new GetFunctionConfigurationCommand({ FunctionName: FUNCTION_NAMES.backfill }),
        );
        const vars = out.Environment?.Variables ?? {};
        return {
          installId: vars.INSTALL_ID,
          filterName: vars.FILTER_NAME,
          scope: vars.SCOPE,
          enrollment: vars.ENROLLMENT,
        };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    async removeSchedule() {
      for (const send of [
        () => events.send(new RemoveTargetsCommand({ Rule: rule, Ids: [CLEANUP_TARGET_ID] })),
        () => events.send(new DeleteRuleCommand({ Name: rule })),
      ]) {
        try {
          await send();
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }
    },
    async deleteSelf() {
      try {
        await lambda.send(new DeleteFunctionCommand({ FunctionName: fn }));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      try {
        for (const policy of [CLEANUP_POLICY_NAMES.work, CLEANUP_POLICY_NAMES.selfDelete]) {
          try {
            await iam.send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: policy }));
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
        }
        await iam.send(new DeleteRoleCommand({ RoleName: role }));
        return { roleDeleted: true };
      } catch (error) {
        if (isNotFound(error)) return { roleDeleted: true };
        return { roleDeleted: false, error: `${(error as Error).name}: ${(error as Error).message}` };
      }
    },
  };
}
