/**
 * moto answers the account policy calls (PutAccountPolicy, DescribeAccountPolicies) with an
 * error, so the CLI tests run the log groups on moto and the account's subscription filter
 * policy on the in-memory fake, which follows the documented one-policy-per-Region rule
 * (test/member/fake-logs.ts). Each test file routes `createLogsRuntime`'s policies here with
 * `vi.mock` (see account-scope.moto.test.ts).
 */
import type { LogsRuntime } from '../../../member/runtime/clients';
import { systemClock } from '../../../shared/rate-limiter';
import { FakeLogs } from '../fake-logs';

/** The account policy store the CLI sees; replace it per test. */
export const policyStore = { logs: new FakeLogs() };

export function withFakePolicies(runtime: LogsRuntime): LogsRuntime {
  return {
    ...runtime,
    policies: policyStore.logs.runtime({ requestsPerSecond: 1000, clock: systemClock }).policies,
  };
}
