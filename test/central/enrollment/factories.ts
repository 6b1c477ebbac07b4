/** Event factories for the enrollment tests, built on the real samples in test/events/organizations. */
import { loadEvent } from '../../support/events';

export type Json = Record<string, unknown>;

export const moveAccount = () =>
  loadEvent<Json>('organizations/organizations-moveaccount.eventbridge.asea.json');
export const removeAccount = () =>
  loadEvent<Json>('organizations/organizations-removeaccountfromorganization.eventbridge.asea.json');
/** Constructed from the AWS docs (no public sample yet): see test/events/SOURCES.md. */
export const accountJoined = () =>
  loadEvent<Json>('organizations/organizations-accountjoinedorganization.eventbridge.constructed.json');
export const createAccountRecord = () =>
  loadEvent<Json>('organizations/organizations-createaccountresult.cloudtrail-record.awsdocs.json');

/** The EventBridge envelope AWS wraps a CloudTrail service event in (the fixture is the record only). */
export function serviceEventEnvelope(detail: Json): Json {
  return {
    version: '0',
    id: '6f87d04b-9f74-4f04-a780-7acf4b0a9b38',
    'detail-type': 'AWS Service Event via CloudTrail',
    source: 'aws.organizations',
    account: '111122223333',
    time: '2020-09-16T21:20:53Z',
    region: 'us-east-1',
    resources: [],
    detail,
  };
}

/** An API-call envelope around a CloudTrail record, reusing the real MoveAccount envelope. */
export function apiCallEvent(eventName: string, requestParameters: Json | null, extra: Json = {}): Json {
  const event = moveAccount();
  return { ...event, detail: { ...(event.detail as Json), eventName, requestParameters, ...extra } };
}

export const scheduledEvent: Json = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2026-11-26T12:00:00Z',
  region: 'eu-west-1',
  resources: ['arn:aws:events:eu-west-1:123456789012:rule/log-reflector-enrollment'],
  detail: {},
};
