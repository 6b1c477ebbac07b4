/**
 * Bounds a wait by a deadline (epoch ms): the invocation's remaining time, for every call
 * the reflector makes on its data path besides Sumo (the failure-bucket PutObject, the
 * secret fetch). An SDK call against an endpoint that accepts the connection and never
 * answers would otherwise wait until Lambda kills the invocation, and the whole batch would
 * be retried; bounded, only the records that needed the call go back to Kinesis.
 *
 * `work` receives an AbortSignal that fires at the deadline: the AWS SDK for JavaScript v3
 * takes it as `client.send(command, { abortSignal })` and abandons the request
 * (https://aws.amazon.com/blogs/developer/abortcontroller-in-modular-aws-sdk-for-javascript/;
 * an aborted request is not retried). The returned promise settles at the deadline whether
 * or not `work` honours the signal.
 */
import { DeadlineError } from './errors';

export async function withDeadline<T>(
  what: string,
  deadline: number,
  work: (signal: AbortSignal) => Promise<T>,
  now: () => number = Date.now,
): Promise<T> {
  const left = deadline - now();
  if (left <= 0) throw new DeadlineError(`${what}: no time left before the deadline (${left} ms)`);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new DeadlineError(`${what} did not finish in the ${left} ms left before the deadline`);
      controller.abort(error);
      reject(error);
    }, left);
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}
