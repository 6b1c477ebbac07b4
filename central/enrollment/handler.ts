/**
 * `log-reflector-enrollment`: the enrollment reconciler (docs/architecture.md, decision 4), in the
 * management account (or delegated admin), home region. Thin: classify the trigger
 * (`events.ts`), run one full reconcile (`reconcile.ts`), log every change, emit metrics.
 *
 * Invoked by Organizations events (forwarded from us-east-1), a schedule, and
 * `{"trigger":"deploy"}` after each deploy of the org stack. Each accepted trigger runs the
 * same reconcile, the event's accounts first, so a missed or duplicated event costs nothing:
 * the next run heals it. Invocations may overlap (no reserved concurrency): the lease in the
 * state object makes the later one wait, and one that never gets it fails with LeaseHeldError
 * so Lambda's asynchronous retries run it again (an event's account is not dropped).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { awsOrganizations, awsStackSets, defaultClients, s3EnrolledPublisher, s3StateStore } from './aws';
import { type EnrollmentConfig, parseEnrollmentEnv } from './env';
import { classifyTrigger } from './events';
import {
  type ReconcileDeps,
  type ReconcileLog,
  type ReconcileResult,
  reconcile,
  summarize,
} from './reconcile';
import { LeaseHeldError } from './state';

export const METRICS_NAMESPACE = 'LogReflector';
export const SERVICE_NAME = 'enrollment';

/**
 * Kept back from the invocation's remaining time: no new read, operation or poll starts
 * after it, so the function ends with its log lines and metrics written instead of timing out.
 */
export const DEADLINE_GRACE_MS = 30_000;

export interface HandlerDeps {
  readonly config: EnrollmentConfig;
  readonly reconcileDeps: ReconcileDeps;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface AccountChange {
  readonly account: string;
  readonly action: string;
  readonly regions: readonly string[];
}

export type EnrollmentRunResult =
  | { readonly status: 'ignored'; readonly reason: string }
  | {
      readonly status: 'reconciled';
      readonly trigger: string;
      readonly stackSets: readonly {
        readonly name: string;
        readonly status: string;
        readonly changes: readonly AccountChange[];
        readonly operationIds: readonly string[];
        readonly deferredOperations: number;
      }[];
      readonly counts: Readonly<Record<string, number>>;
    };

function toReconcileLog(logger: Logger): ReconcileLog {
  return {
    info: (message, data) => logger.info(message, data ?? {}),
    warn: (message, data) => logger.warn(message, data ?? {}),
  };
}

function logOutcome(result: ReconcileResult, logger: Logger): void {
  for (const outcome of result.outcomes) {
    const started = new Set(
      outcome.operations.filter((o) => o.operationId !== undefined).flatMap((o) => o.operation.accounts),
    );
    for (const d of outcome.plan.decisions) {
      if (d.action === 'enable' || d.action === 'disable') {
        logger.info('enrollment change', {
          stackSet: outcome.stackSetName,
          account: d.account,
          action: d.action,
          regions: d.regions,
          tag: d.tag,
          current: d.current,
          started: started.has(d.account),
          reason: d.reason,
        });
      } else if (d.action === 'wait') {
        logger.info('enrollment waits', {
          stackSet: outcome.stackSetName,
          account: d.account,
          reason: d.reason,
        });
      }
    }
    logger.info('enrollment reconciled', {
      stackSet: outcome.stackSetName,
      kind: outcome.kind,
      status: outcome.status,
      operations: outcome.operations.map((o) => ({
        id: o.operationId,
        status: o.status,
        failures: o.failures,
      })),
      deferredOperations: outcome.deferred.length,
      unread: outcome.unread,
    });
  }
}

/** Builds the handler around its dependencies (tests inject clients and readers). */
export function createHandler(resolve: () => HandlerDeps) {
  return async (
    event: unknown,
    context: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<EnrollmentRunResult> => {
    const { config, reconcileDeps, logger, metrics } = resolve();
    try {
      const trigger = classifyTrigger(event, config.optOut.key);
      if (!trigger.reconcile) {
        logger.info('event ignored', { reason: trigger.reason });
        metrics.addMetric('IgnoredEvents', MetricUnit.Count, 1);
        return { status: 'ignored', reason: trigger.reason };
      }
      logger.info('reconcile triggered', {
        trigger: trigger.trigger,
        eventName: trigger.eventName,
        accounts: trigger.accountIds,
      });
      const now = reconcileDeps.now ?? Date.now;
      const result = await reconcile(
        config,
        { ...reconcileDeps, log: reconcileDeps.log ?? toReconcileLog(logger) },
        {
          apply: true,
          deadline: now() + context.getRemainingTimeInMillis() - DEADLINE_GRACE_MS,
          priorityAccounts: trigger.accountIds,
          departedAccounts: trigger.departedAccountIds ?? [],
        },
      );
      if (result.publishProblem) logger.warn('enrolled list problem', { problem: result.publishProblem });
      for (const outcome of result.outcomes) {
        for (const stuck of outcome.stuck) {
          logger.warn('stack instance keeps failing', { stackSet: outcome.stackSetName, ...stuck });
        }
      }
      logOutcome(result, logger);
      const counts = summarize(result);
      for (const [name, value] of Object.entries(counts)) metrics.addMetric(name, MetricUnit.Count, value);
      return {
        status: 'reconciled',
        trigger: trigger.trigger,
        counts,
        stackSets: result.outcomes.map((o) => ({
          name: o.stackSetName,
          status: o.status,
          changes: o.plan.decisions
            .filter((d) => d.action === 'enable' || d.action === 'disable')
            .map((d) => ({ account: d.account, action: d.action, regions: d.regions })),
          operationIds: o.operations.flatMap((op) => (op.operationId ? [op.operationId] : [])),
          deferredOperations: o.deferred.length,
        })),
      };
    } catch (err) {
      if (err instanceof LeaseHeldError) {
        // Another run is working; failing lets Lambda retry this trigger later (async retries).
        logger.warn('another reconcile run held the lease until this one’s deadline', {
          owner: err.owner,
          expiresAt: err.expiresAt,
        });
        metrics.addMetric('LeaseBusy', MetricUnit.Count, 1);
        throw err;
      }
      // Not swallowed: the invocation fails (async invokes retry), and the error is counted.
      logger.error('enrollment reconcile failed', err as Error);
      metrics.addMetric('ReconcileErrors', MetricUnit.Count, 1);
      throw err;
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

let deps: HandlerDeps | undefined;

/** Built on first use: the environment is parsed once per container (cold start). */
function defaultDeps(): HandlerDeps {
  if (deps) return deps;
  const config = parseEnrollmentEnv(process.env);
  const clients = defaultClients();
  deps = {
    config,
    reconcileDeps: {
      organizations: awsOrganizations(clients.organizations),
      stackSets: awsStackSets(clients.cloudFormation),
      ...(config.stateBucket ? { stateStore: s3StateStore(clients.s3, config.stateBucket) } : {}),
      publisher: config.enrolledListBucket
        ? s3EnrolledPublisher(clients.s3, config.enrolledListBucket)
        : undefined,
    },
    logger: new Logger({ serviceName: SERVICE_NAME }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }),
  };
  return deps;
}

export const handler = createHandler(defaultDeps);
