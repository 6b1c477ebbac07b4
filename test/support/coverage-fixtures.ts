/**
 * Builders for the reports the member stacks write under `coverage/` (shared/coverage.ts), so the
 * tests of the schema, the aggregator and the CLI rows start from one well-formed report each and
 * state only the fields their case is about.
 */
import {
  type CleanupReport,
  type CoverageReport,
  type CoverageTally,
  emptyTally,
} from '../../shared/coverage';

/** A complete, current version-1 sweep report from `account` in `region`; `groups` is the empty tally unless overridden. */
export function coverageReport(
  account: string,
  region: string,
  overrides: Partial<CoverageReport> = {},
): CoverageReport {
  return {
    version: 1,
    account,
    region,
    source: 'sweep',
    startedAt: '2026-06-02T11:00:00.000Z',
    generatedAt: '2026-06-02T11:05:00.000Z',
    complete: true,
    enrollment: 'enabled',
    filterName: `log-reflector-${region}`,
    hops: 1,
    groups: emptyTally(),
    ...overrides,
  };
}

/** A tally: the empty one with the counts given. */
export function tally(counts: Partial<CoverageTally> = {}): CoverageTally {
  return { ...emptyTally(), ...counts };
}

/** A version-1 cleanup report of an uninstall in its first pass, still removing. */
export function cleanupReport(
  account: string,
  region: string,
  overrides: Partial<CleanupReport> = {},
): CleanupReport {
  return {
    version: 1,
    account,
    region,
    installId: '271845b0',
    kind: 'uninstall',
    filterName: `log-reflector-${region}`,
    state: 'removing',
    pass: 1,
    requestedAt: '2026-06-02T11:30:00.000Z',
    generatedAt: '2026-06-02T11:45:00.000Z',
    runs: 1,
    removed: 5_120,
    failed: 0,
    checked: 5_400,
    ...overrides,
  };
}
