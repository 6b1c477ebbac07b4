/**
 * The demo's template reader resolves what our templates use, the way CloudFormation does for
 * one stack instance, and refuses what it does not know instead of guessing.
 */
import { describe, expect, it } from 'vitest';
import { type CfnTemplate, effectiveParameters, TemplateReader } from './cfn-template';

const template: CfnTemplate = {
  Parameters: {
    Enrollment: { Type: 'String', Default: 'enabled' },
    Base: { Type: 'String', Default: 'log-reflector' },
    Central: { Type: 'String' },
    Regions: { Type: 'CommaDelimitedList', Default: 'eu-west-1,us-east-1' },
  },
  Conditions: { IsEnabled: { 'Fn::Equals': [{ Ref: 'Enrollment' }, 'enabled'] } },
  Resources: {
    Role: {
      Type: 'AWS::IAM::Role',
      Properties: { RoleName: { 'Fn::Join': ['', ['sender-', { Ref: 'AWS::Region' }]] } },
    },
    Fn: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        FunctionName: 'log-reflector-sweep',
        Environment: {
          Variables: {
            FILTER: { 'Fn::Join': ['-', [{ Ref: 'Base' }, { Ref: 'AWS::Region' }]] },
            ROLE: { 'Fn::GetAtt': ['Role', 'Arn'] },
            // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax, not a JS template
            DEST: { 'Fn::Sub': 'arn:${AWS::Partition}:logs:${AWS::Region}:${Central}:destination:x' },
            STATE: { 'Fn::If': ['IsEnabled', 'ENABLED', 'DISABLED'] },
            REGIONS: { 'Fn::Join': [' ', { Ref: 'Regions' }] },
            N: 4,
          },
        },
      },
    },
    Queue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'log-reflector-subscriber-dlq' } },
    UsesQueue: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        Environment: {
          Variables: { URL: { Ref: 'Queue' }, ARN: { 'Fn::GetAtt': ['Queue', 'Arn'] } },
        },
      },
    },
    Odd: { Type: 'AWS::Lambda::Function', Properties: { Code: { 'Fn::ImportValue': 'nope' } } },
  },
};

describe('TemplateReader', () => {
  it('takes overrides over StackSet values over defaults, and requires a value', () => {
    expect(
      effectiveParameters(template, { Central: '222222222222' }, { Enrollment: 'disabled' }),
    ).toStrictEqual({
      Enrollment: 'disabled',
      Base: 'log-reflector',
      Central: '222222222222',
      Regions: 'eu-west-1,us-east-1',
    });
    expect(() => effectiveParameters(template, {}, {})).toThrow('parameter Central has no value');
  });

  it('resolves Ref (a CommaDelimitedList to a list), pseudo parameters, Join, GetAtt, Sub and If for one instance', () => {
    const parameters = effectiveParameters(template, { Central: '222222222222' }, { Enrollment: 'disabled' });
    const reader = new TemplateReader(template, {
      account: '333333333333',
      region: 'eu-west-1',
      stackName: 's',
      parameters,
    });
    expect(reader.environment('Fn')).toStrictEqual({
      FILTER: 'log-reflector-eu-west-1',
      ROLE: 'arn:aws:iam::333333333333:role/sender-eu-west-1',
      DEST: 'arn:aws:logs:eu-west-1:222222222222:destination:x',
      STATE: 'DISABLED',
      REGIONS: 'eu-west-1 us-east-1',
      N: '4',
    });
  });

  it('names the intrinsic and the place it does not support', () => {
    const reader = new TemplateReader(template, {
      account: '1',
      region: 'r',
      stackName: 's',
      parameters: {},
    });
    expect(() => reader.property('Odd', 'Code')).toThrow('unsupported intrinsic Fn::ImportValue at Odd.Code');
    expect(() => reader.findOne('AWS::S3::Bucket', 'failure bucket')).toThrow(
      'expected one AWS::S3::Bucket (failure bucket) in the template, found 0',
    );
  });

  it("resolves an SQS queue's Ref to the URL SQS gave it (not its name) and its Arn from its name", () => {
    const scope = { account: '333333333333', region: 'eu-west-1', stackName: 's', parameters: {} };
    const url = 'http://localhost:5000/333333333333/log-reflector-subscriber-dlq';
    expect(
      new TemplateReader(template, { ...scope, physicalIds: { Queue: url } }).environment('UsesQueue'),
    ).toStrictEqual({ URL: url, ARN: 'arn:aws:sqs:eu-west-1:333333333333:log-reflector-subscriber-dlq' });
    expect(() => new TemplateReader(template, scope).environment('UsesQueue')).toThrow(
      'Ref Queue (AWS::SQS::Queue) at UsesQueue.Environment.Variables.URL: no physical id known to the demo',
    );
  });
});
