import { describe, expect, it } from 'vitest';
import { classifyTrigger } from '../../../central/enrollment/events';
import { DEFAULT_OPT_OUT_TAG_KEY } from '../../../shared/naming';
import { loadEvent } from '../../support/events';
import {
  accountJoined,
  apiCallEvent,
  createAccountRecord,
  type Json,
  moveAccount,
  removeAccount,
  scheduledEvent,
  serviceEventEnvelope,
} from './factories';

const KEY = DEFAULT_OPT_OUT_TAG_KEY;

describe('classifyTrigger', () => {
  it('reconciles on the real MoveAccount event, naming the moved account', () => {
    expect(classifyTrigger(moveAccount(), KEY)).toStrictEqual({
      reconcile: true,
      trigger: 'organizations',
      eventName: 'MoveAccount',
      accountIds: ['549271133721'],
    });
  });

  it('reconciles on the real CreateAccountResult record in its EventBridge envelope', () => {
    expect(classifyTrigger(serviceEventEnvelope(createAccountRecord()), KEY)).toStrictEqual({
      reconcile: true,
      trigger: 'organizations',
      eventName: 'CreateAccountResult',
      accountIds: ['444455556666'],
    });
  });

  it('ignores a CreateAccountResult that did not succeed', () => {
    const record = createAccountRecord();
    const details = record.serviceEventDetails as { createAccountStatus: Json };
    const failed = {
      ...record,
      serviceEventDetails: { createAccountStatus: { ...details.createAccountStatus, state: 'FAILED' } },
    };
    expect(classifyTrigger(serviceEventEnvelope(failed), KEY)).toStrictEqual({
      reconcile: false,
      reason: 'CreateAccountResult in state FAILED, not SUCCEEDED',
    });
  });

  it('ignores the bare CloudTrail record (no EventBridge envelope)', () => {
    expect(classifyTrigger(createAccountRecord(), KEY)).toStrictEqual({
      reconcile: false,
      reason: 'not an EventBridge event, schedule or {"trigger":"deploy"}',
    });
  });

  it('reconciles on the real RemoveAccountFromOrganization event, naming the departed account', () => {
    expect(classifyTrigger(removeAccount(), KEY)).toStrictEqual({
      reconcile: true,
      trigger: 'organizations',
      eventName: 'RemoveAccountFromOrganization',
      accountIds: ['588801414845'],
      departedAccountIds: ['588801414845'],
    });
  });

  it('reconciles on TagResource and UntagResource of the opt-out tag on an account', () => {
    expect(
      classifyTrigger(
        apiCallEvent('TagResource', { resourceId: '111111111111', tags: [{ key: KEY, value: 'true' }] }),
        KEY,
      ),
    ).toStrictEqual({
      reconcile: true,
      trigger: 'organizations',
      eventName: 'TagResource',
      accountIds: ['111111111111'],
    });
    expect(
      classifyTrigger(apiCallEvent('UntagResource', { resourceId: '111111111111', tagKeys: [KEY] }), KEY),
    ).toStrictEqual({
      reconcile: true,
      trigger: 'organizations',
      eventName: 'UntagResource',
      accountIds: ['111111111111'],
    });
  });

  it('reconciles when the tag keys are not in the event (unknown shape errs on reconciling)', () => {
    expect(classifyTrigger(apiCallEvent('TagResource', null), KEY)).toStrictEqual({
      reconcile: true,
      trigger: 'organizations',
      eventName: 'TagResource',
      accountIds: [],
    });
  });

  it('ignores tag changes of other keys, and tags on OUs', () => {
    expect(
      classifyTrigger(
        apiCallEvent('TagResource', { resourceId: '111111111111', tags: [{ key: 'team', value: 'a' }] }),
        KEY,
      ),
    ).toStrictEqual({ reconcile: false, reason: `TagResource does not touch the ${KEY} tag` });
    expect(
      classifyTrigger(apiCallEvent('UntagResource', { resourceId: 'ou-ab12-cdef3456', tagKeys: [KEY] }), KEY),
    ).toStrictEqual({
      reconcile: false,
      reason: 'UntagResource on ou-ab12-cdef3456, not an account',
    });
  });

  it('ignores failed calls', () => {
    expect(
      classifyTrigger(
        apiCallEvent('MoveAccount', { accountId: '111111111111' }, { errorCode: 'AccessDenied' }),
        KEY,
      ),
    ).toStrictEqual({ reconcile: false, reason: 'failed MoveAccount call (AccessDenied) changes nothing' });
  });

  it('reconciles on AccountJoinedOrganization, the event the management account sees for an invited account (issue 15.8)', () => {
    expect(classifyTrigger(accountJoined(), KEY)).toStrictEqual({
      reconcile: true,
      trigger: 'organizations',
      eventName: 'AccountJoinedOrganization',
      accountIds: ['444455556666'],
    });
  });

  it('finds the joined account wherever the record names it, never the management account, and reconciles without one', () => {
    const event = accountJoined();
    const detail = event.detail as Json;
    const moved = {
      ...event,
      detail: {
        ...detail,
        serviceEventDetails: { joinedMethod: 'Created' },
        resources: [{ ARN: 'arn:aws:organizations::111122223333:account/o-a1b2c3d4e5/777788889999' }],
      },
    };
    expect(classifyTrigger(moved, KEY)).toMatchObject({ reconcile: true, accountIds: ['777788889999'] });
    const bare = { ...event, detail: { ...detail, serviceEventDetails: { joinedMethod: 'Invited' } } };
    expect(classifyTrigger(bare, KEY)).toStrictEqual({
      reconcile: true,
      trigger: 'organizations',
      eventName: 'AccountJoinedOrganization',
      accountIds: [],
    });
  });

  it('marks the account of AccountDepartedOrganization as departed', () => {
    const event = accountJoined();
    const departed = {
      ...event,
      detail: {
        ...(event.detail as Json),
        eventName: 'AccountDepartedOrganization',
        serviceEventDetails: { accountId: '444455556666', departedMethod: 'Removed' },
      },
    };
    expect(classifyTrigger(departed, KEY)).toStrictEqual({
      reconcile: true,
      trigger: 'organizations',
      eventName: 'AccountDepartedOrganization',
      accountIds: ['444455556666'],
      departedAccountIds: ['444455556666'],
    });
  });

  it('no longer treats AcceptHandshake as a trigger: the member account calls it, the management account never sees it', () => {
    expect(
      classifyTrigger(apiCallEvent('AcceptHandshake', { handshakeId: 'h-1234567890' }), KEY),
    ).toStrictEqual({ reconcile: false, reason: 'AcceptHandshake does not affect enrollment' });
  });

  it('reconciles on the schedule and after a deploy', () => {
    expect(classifyTrigger(scheduledEvent, KEY)).toStrictEqual({
      reconcile: true,
      trigger: 'schedule',
      accountIds: [],
    });
    expect(classifyTrigger({ trigger: 'deploy' }, KEY)).toStrictEqual({
      reconcile: true,
      trigger: 'deploy',
      accountIds: [],
    });
  });

  it('ignores other sources and junk', () => {
    const createLogGroup = loadEvent<Json>(
      'eventbridge/cloudtrail-createloggroup.eventbridge.previewme.json',
    );
    expect(classifyTrigger(createLogGroup, KEY)).toStrictEqual({
      reconcile: false,
      reason: 'event from aws.logs is not handled',
    });
    expect(classifyTrigger(null, KEY)).toStrictEqual({
      reconcile: false,
      reason: 'not an EventBridge event, schedule or {"trigger":"deploy"}',
    });
    expect(classifyTrigger({ trigger: 'other' }, KEY)).toStrictEqual({
      reconcile: false,
      reason: 'not an EventBridge event, schedule or {"trigger":"deploy"}',
    });
  });

  it('ignores an Organizations event of another detail-type', () => {
    const event = { ...moveAccount(), 'detail-type': 'AWS Console Sign In via CloudTrail' };
    expect(classifyTrigger(event, KEY)).toStrictEqual({
      reconcile: false,
      reason: 'detail-type "AWS Console Sign In via CloudTrail" is not handled',
    });
  });
});
