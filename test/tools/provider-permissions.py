#!/usr/bin/env python3
"""Regenerates test/central/data/stackset-execution-permissions.json: the IAM actions
CloudFormation's resource handlers need for every resource type of the member and org-events
templates (the templates the management-account StackSet execution role deploys).

Usage: python3 test/tools/provider-permissions.py <terraform-provider-awscc checkout> \
         > test/central/data/stackset-execution-permissions.json

Sources:
- handlers.*.permissions: the CloudFormation registry schemas (what `aws cloudformation
  describe-type --type RESOURCE --type-name <type>` returns), as vendored by
  hashicorp/terraform-provider-awscc in internal/service/cloudformation/schemas/<Type>.json.
- resource types per action: the Service Authorization Reference, as shipped by cfn-lint
  (cfnlint/data/AdditionalSpecs/Policies.json), to tell which actions take resource ARNs.
Run with the cfn-lint that `npm run synth` uses on the PATH's python.
"""
import json
import os
import subprocess
import sys

import cfnlint
from importlib.metadata import version

AWSCC = sys.argv[1]
SCHEMAS = 'internal/service/cloudformation/schemas'

# Types the templates use that publish no handler permissions, and what stands for them.
EQUIVALENT = {
    'AWS::IAM::Policy': (
        'AWS::IAM::RolePolicy',
        'AWS::IAM::Policy is a legacy type whose schema publishes no handlers; with Roles set it '
        'writes inline role policies, the same API calls AWS::IAM::RolePolicy declares.',
    ),
    'AWS::SQS::QueuePolicy': (
        'AWS::SQS::QueueInlinePolicy',
        'AWS::SQS::QueuePolicy publishes no handlers; it sets the queue Policy attribute, the same '
        'API calls AWS::SQS::QueueInlinePolicy declares.',
    ),
}
NO_PROVIDER = {
    'AWS::CloudFormation::CustomResource': {
        'note': 'No resource provider: CloudFormation invokes the ServiceToken Lambda function with '
        'the stack operation\'s credentials (https://docs.aws.amazon.com/AWSCloudFormation/latest/'
        'TemplateReference/aws-resource-cloudformation-customresource.html).',
        'handlers': {
            'create': ['lambda:InvokeFunction'],
            'update': ['lambda:InvokeFunction'],
            'delete': ['lambda:InvokeFunction'],
        },
    },
    'AWS::CDK::Metadata': {
        'note': 'The CDK\'s version-reporting resource; CloudFormation records it without calling '
        'any service, and its schema publishes no handlers.',
        'handlers': {},
    },
}
TYPES = [
    'AWS::Events::Rule',
    'AWS::IAM::Role',
    'AWS::Lambda::EventInvokeConfig',
    'AWS::Lambda::Function',
    'AWS::Lambda::Permission',
    'AWS::Logs::LogGroup',
    'AWS::SQS::Queue',
]


def git(*args):
    return subprocess.check_output(['git', '-C', AWSCC, *args], text=True)


commit = git('rev-parse', 'HEAD').strip()


def schema(type_name):
    path = f'{SCHEMAS}/{type_name.replace("::", "_")}.json'
    d = json.loads(git('show', f'HEAD:{path}'))
    handlers = {k: sorted(v.get('permissions', [])) for k, v in sorted(d.get('handlers', {}).items())}
    return path, handlers


out_types = {}
for t in TYPES:
    path, handlers = schema(t)
    out_types[t] = {'schema': path, 'handlers': handlers}
for t, (eq, note) in EQUIVALENT.items():
    path, handlers = schema(eq)
    out_types[t] = {'schema': path, 'equivalent': eq, 'note': note, 'handlers': handlers}
out_types.update(NO_PROVIDER)

policies = json.load(open(os.path.join(os.path.dirname(cfnlint.__file__), 'data/AdditionalSpecs/Policies.json')))
actions = sorted({a for t in out_types.values() for h in t['handlers'].values() for a in h})
resource_types = {}
not_iam = {}
for a in actions:
    service, name = a.split(':', 1)
    entry = policies.get(service, {}).get('Actions', {}).get(name.lower())
    if entry is None:
        not_iam[a] = 'not an action in the Service Authorization Reference: nothing to grant'
    else:
        resource_types[a] = entry.get('Resources', [])

json.dump(
    {
        'source': {
            'handlers': f'CloudFormation registry schemas, handlers.*.permissions, as vendored in '
            f'hashicorp/terraform-provider-awscc@{commit} ({SCHEMAS}/<Type>.json)',
            'resourceTypes': f'Service Authorization Reference via cfn-lint {version("cfn-lint")} '
            'cfnlint/data/AdditionalSpecs/Policies.json: the resource types each action accepts ([] = only "*")',
            'regenerate': 'python3 test/tools/provider-permissions.py <terraform-provider-awscc checkout> > <this file>; npx biome format --write <this file>',
        },
        'types': out_types,
        'actionResourceTypes': resource_types,
        'notIamActions': not_iam,
    },
    sys.stdout,
    indent=2,
    sort_keys=False,
)
sys.stdout.write('\n')
