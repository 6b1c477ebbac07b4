/**
 * The reflector (central/reflector/handler.ts) in-process, and what it reports about the
 * enrolled list. The handler has no injection seam: it reads process.env as the Lambda runtime
 * gives it (the demo sets the central account's environment before loading it) and builds its
 * clients, its Sumo sender and its enrolled-list cache on the first invocation.
 *
 * What it did with accounts that are not enrolled is read from its own log lines, in-process,
 * the way an operator reads them in CloudWatch Logs (docs/enrollment.md "Defence in depth"):
 * - `events from accounts that are not enrolled were not forwarded` with `accounts: {id: count}`
 *   (the same count is its `EventsNotEnrolled` metric);
 * - `enrolled list unavailable: the batch goes back to Kinesis` (`EnrollmentListUnavailable`).
 * The exported `logger` is wrapped (its output stays silenced unless `--verbose`).
 */
import type { KinesisStreamEvent } from 'aws-lambda';
import type { InProcessLambda } from './lambda';

type ReflectorModule = typeof import('../../central/reflector/handler');
type LogMethod = (message: string, ...extra: unknown[]) => void;

export const NOT_ENROLLED_LINE = 'events from accounts that are not enrolled were not forwarded';
export const LIST_UNAVAILABLE_LINE = 'enrolled list unavailable: the batch goes back to Kinesis';

export class InProcessReflector {
  /** Events the reflector acknowledged without forwarding, per account (not on the list). */
  readonly notEnrolled = new Map<string, number>();
  /** Batches it handed back to Kinesis because it had no usable list. */
  listUnavailable = 0;
  /** Times the demo let the list cache expire (a StackSet operation outlasting it). */
  cacheExpiries = 0;
  private restoreLogger: (() => void) | undefined;

  private constructor(private readonly module: ReflectorModule) {}

  /** Loads the handler (after the environment is set) and registers it under `arn`. */
  static async load(
    lambda: InProcessLambda,
    arn: string,
    timeoutSeconds: number,
  ): Promise<InProcessReflector> {
    const module = await import('../../central/reflector/handler');
    module.resetRuntime();
    const reflector = new InProcessReflector(module);
    reflector.observe();
    lambda.register(arn, timeoutSeconds, (event, context) =>
      module.handler(event as KinesisStreamEvent, context),
    );
    return reflector;
  }

  private observe(): void {
    const logger = this.module.logger as unknown as { warn: LogMethod; error: LogMethod };
    const warn = logger.warn;
    const error = logger.error;
    logger.warn = (message, ...extra) => {
      if (message === NOT_ENROLLED_LINE) {
        const accounts = (extra[0] as { accounts?: Record<string, number> } | undefined)?.accounts ?? {};
        for (const [account, n] of Object.entries(accounts))
          this.notEnrolled.set(account, (this.notEnrolled.get(account) ?? 0) + n);
      }
      warn.call(logger, message, ...extra);
    };
    logger.error = (message, ...extra) => {
      if (message === LIST_UNAVAILABLE_LINE) this.listUnavailable += 1;
      error.call(logger, message, ...extra);
    };
    this.restoreLogger = () => {
      logger.warn = warn;
      logger.error = error;
    };
  }

  /** Every event it held back because its account was not on the list. */
  get eventsNotEnrolled(): number {
    let n = 0;
    for (const v of this.notEnrolled.values()) n += v;
    return n;
  }

  /**
   * A StackSet operation takes minutes in AWS, longer than the reflector's 60 s list cache
   * (central/reflector/enrolled.ts LIST_TTL_MS); in the demo it lands at once. When one lands,
   * the demo drops the reflector's runtime (`resetRuntime`, what a new container starts with):
   * its next invocation reads the list as it is now, as one would by then in AWS.
   */
  expireCache(): void {
    this.cacheExpiries += 1;
    this.module.resetRuntime();
  }

  /** Puts the logger back (the module stays loaded for the process). */
  restore(): void {
    this.restoreLogger?.();
    this.restoreLogger = undefined;
  }
}
