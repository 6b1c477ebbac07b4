/**
 * AWS commercial-partition regions this project accepts, as listed on
 * https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html (checked
 * 2026-11). Opt-in regions are included; the account must have them enabled. GovCloud and
 * China are separate partitions and are not supported (their ARNs and Organizations differ).
 * A typo in a region name is rejected at synth time instead of failing a StackSet operation
 * in every account.
 */
export const KNOWN_REGIONS = [
  'af-south-1',
  'ap-east-1',
  'ap-east-2',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'ap-southeast-5',
  'ap-southeast-6',
  'ap-southeast-7',
  'ca-central-1',
  'ca-west-1',
  'eu-central-1',
  'eu-central-2',
  'eu-north-1',
  'eu-south-1',
  'eu-south-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'il-central-1',
  'me-central-1',
  'me-south-1',
  'mx-central-1',
  'sa-east-1',
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
] as const;

export type Region = (typeof KNOWN_REGIONS)[number];

const known: ReadonlySet<string> = new Set(KNOWN_REGIONS);

export function isKnownRegion(value: string): value is Region {
  return known.has(value);
}
