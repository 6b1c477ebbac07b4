/**
 * Lambda, played in-process: moto does not run functions (its Lambda needs Docker), so the
 * demo calls the project's handler modules directly, with the context and the invocation
 * semantics Lambda gives them:
 * - synchronous invokes (CloudFormation's custom resource call, the event source mapping);
 * - asynchronous invokes (EventBridge targets, the backfill and sweep hand-offs) are queued,
 *   and a function error is retried `retries` times before the event is counted as parked in
 *   the dead-letter queue / on-failure destination
 *   (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html);
 * - a context whose getRemainingTimeInMillis counts down from the function's timeout.
 * Concurrency limits and cold starts are not emulated.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export type Handler = (event: unknown, context: Context) => Promise<unknown>;

interface FunctionEntry {
  readonly arn: string;
  readonly name: string;
  readonly timeoutSeconds: number;
  readonly handler: Handler;
}

export interface ParkedEvent {
  readonly functionArn: string;
  readonly event: unknown;
  readonly error: string;
}

export function lambdaContext(functionName: string, arn: string, timeoutSeconds: number): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: arn,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `demo/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export class InProcessLambda {
  private readonly functions = new Map<string, FunctionEntry>();
  private readonly pending = new Set<Promise<void>>();
  /** Asynchronous events that failed every attempt (a dead-letter queue would hold them). */
  readonly parked: ParkedEvent[] = [];
  invocations = 0;
  errors = 0;

  /** Registers (or replaces, after a stack update) the function behind `arn`. */
  register(arn: string, timeoutSeconds: number, handler: Handler): void {
    const name = arn.slice(arn.lastIndexOf(':') + 1);
    this.functions.set(arn, { arn, name, timeoutSeconds, handler });
  }

  unregister(arn: string): void {
    this.functions.delete(arn);
  }

  private entry(arn: string): FunctionEntry {
    const fn = this.functions.get(arn);
    if (!fn) throw new Error(`no function ${arn} (Lambda would answer ResourceNotFoundException)`);
    return fn;
  }

  /** RequestResponse invoke: the handler's result, or its error. */
  async invoke(arn: string, event: unknown): Promise<unknown> {
    const fn = this.entry(arn);
    this.invocations += 1;
    try {
      return await fn.handler(event, lambdaContext(fn.name, fn.arn, fn.timeoutSeconds));
    } catch (err) {
      this.errors += 1;
      throw err;
    }
  }

  /** Event invoke: queued; retried `retries` times on error, then parked. */
  invokeAsync(arn: string, event: unknown, retries = 2): void {
    this.entry(arn);
    const run = (async () => {
      let lastError = '';
      for (let attempt = 0; attempt <= retries; attempt += 1) {
        // Lambda runs an asynchronous event on a later turn, never inside the caller.
        await new Promise((r) => setImmediate(r));
        try {
          await this.invoke(arn, event);
          return;
        } catch (err) {
          lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        }
      }
      this.parked.push({ functionArn: arn, event, error: lastError });
    })();
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  /** Resolves when every queued asynchronous invocation (and what it queued) has finished. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}
