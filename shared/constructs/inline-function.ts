/**
 * A Lambda function whose code is the esbuild bundle of one handler file, inlined in the
 * template. Used by every stack, including the StackSet templates, where file assets would
 * need an org-readable bucket in every region (docs/architecture.md, decision 2). Infrastructure code,
 * synth time only; it lives in central/ because the org stack (central) assembles every
 * template, member ones included.
 *
 * Each function gets its own role (no AWS managed policy: least privilege), its own log
 * group `/aws/lambda/<name>` with a retention, and a name starting `log-reflector-`, which
 * keeps its logs out of the pipeline (shared/naming.ts, docs/architecture.md, decision 6).
 */
import { ArnFormat, Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { RESOURCE_PREFIX } from '../naming';
import { bundleHandler } from './bundle';
import { acknowledgeFindings } from './nag';

/**
 * Current Node.js runtime with AWS SDK v3 built in (async handlers only, which ours are):
 * https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
 */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** Inline (ZipFile) code limit for Node.js: 4 MB (AWS::Lambda::Function Code.ZipFile). */
export const INLINE_CODE_LIMIT_BYTES = 4 * 1024 * 1024;

export interface InlineFunctionProps {
  /** Handler source, relative to the project root, e.g. `member/subscriber/handler.ts`. */
  readonly entry: string;
  /** Physical name; must start with `log-reflector-`. */
  readonly functionName: string;
  readonly description: string;
  /** @default 256 */
  readonly memorySizeMb?: number;
  /** @default 60 */
  readonly timeoutSeconds?: number;
  /** @default {} */
  readonly environment?: Record<string, string>;
  /** Powertools service name (logs and metrics dimension). */
  readonly serviceName: string;
  /** @default 30 days */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The function hands its remaining work on to a fresh invocation of itself (a chain with a
   * hop limit of its own). Lambda stops a chain of functions invoking each other after about
   * 16 invocations unless the function's recursive loop detection is set to Allow ("Lambda
   * also detects loops comprised only of Lambda functions, which may invoke each other
   * synchronously or asynchronously",
   * https://docs.aws.amazon.com/lambda/latest/dg/invocation-recursion.html).
   * @default false (Lambda's default: Terminate)
   */
  readonly selfInvoking?: boolean;
  // No reserved concurrency, on purpose: new accounts cannot reserve any (Lambda keeps 100
  // unreserved, https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html),
  // and our stacks land in new accounts first. test/central/new-account-quotas.test.ts.
}

export class InlineFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  /** Bytes of inline code this function adds to its template. */
  readonly codeBytes: number;

  constructor(scope: Construct, id: string, props: InlineFunctionProps) {
    super(scope, id);
    if (!props.functionName.startsWith(RESOURCE_PREFIX)) {
      throw new Error(
        `InlineFunction functionName must start with "${RESOURCE_PREFIX}" (so its logs are never forwarded), received "${props.functionName}"`,
      );
    }
    const bundle = bundleHandler(props.entry);
    if (bundle.bytes > INLINE_CODE_LIMIT_BYTES) {
      throw new Error(
        `bundle of ${props.entry} is ${bundle.bytes} bytes, over the ${INLINE_CODE_LIMIT_BYTES}-byte inline code limit`,
      );
    }
    this.codeBytes = bundle.bytes;
    const stack = Stack.of(this);

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: `/aws/lambda/${props.functionName}`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.role = new iam.Role(this, 'Role', {
      // Named, so a self-managed StackSet execution role can be scoped to `log-reflector-*`;
      // IAM is global and stacks run per region, so the region is part of the name (≤ 64 chars).
      roleName: `${props.functionName}-${Aws.REGION}`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.functionName}`,
    });
    // Only its own log group: no AWSLambdaBasicExecutionRole (it allows every log group).
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [
          stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: `/aws/lambda/${props.functionName}:log-stream:*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );

    const logStreams = stack.resolve(
      stack.formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: `/aws/lambda/${props.functionName}:log-stream:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
    );
    acknowledgeFindings(
      this.role,
      'AwsSolutions-IAM5',
      [`Resource::${nagArn(logStreams)}`],
      'Log streams of the function’s own log group: Lambda names each stream at run time.',
    );

    this.function = new lambda.Function(this, 'Function', {
      functionName: props.functionName,
      description: props.description,
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromInline(bundle.code),
      memorySize: props.memorySizeMb ?? 256,
      timeout: Duration.seconds(props.timeoutSeconds ?? 60),
      role: this.role,
      logGroup: this.logGroup,
      ...(props.selfInvoking ? { recursiveLoop: lambda.RecursiveLoop.ALLOW } : {}),
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: 'LogReflector',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...props.environment,
      },
    });
  }
}

/** cdk-nag renders Fn::Join ARNs with pseudo parameters as `<AWS::Partition>` etc. */
function nagArn(resolved: unknown): string {
  if (typeof resolved === 'string') return resolved;
  const join = (resolved as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) return JSON.stringify(resolved);
  return join[1]
    .map((part) => {
      if (typeof part === 'string') return part;
      const ref = (part as { Ref?: string }).Ref;
      return ref ? `<${ref}>` : JSON.stringify(part);
    })
    .join(join[0]);
}
