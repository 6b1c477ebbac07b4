/**
 * Reads synthesized CloudFormation templates the way CloudFormation would for one stack
 * instance: parameter values (defaults, then StackSet values, then instance overrides),
 * pseudo parameters, conditions and the intrinsic functions our templates use. The demo takes
 * every function environment, custom resource property and rule state from here, so it runs
 * the handlers exactly as the synthesized stacks configure them and cannot drift from them.
 *
 * Only what our templates use is supported; anything else fails loudly with the function and
 * the place it was found, so a template change the demo does not understand stops the demo
 * instead of being guessed at.
 * Intrinsic function reference:
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html
 */

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Condition?: string;
  readonly DependsOn?: string | string[];
}

export interface CfnTemplate {
  readonly Parameters?: Record<string, { readonly Type: string; readonly Default?: unknown }>;
  readonly Conditions?: Record<string, unknown>;
  readonly Resources: Record<string, CfnResource>;
}

/** Where a stack runs and what CloudFormation knows about its resources. */
export interface StackScope {
  readonly account: string;
  readonly region: string;
  readonly partition?: string;
  readonly stackName: string;
  /**
   * The stack's id (`AWS::StackId`): `arn:…:stack/<name>/<uuid>`, the uuid CloudFormation gives
   * it at creation. Default: `…/<name>/demo`.
   */
  readonly stackId?: string;
  /** Effective parameter values (see `effectiveParameters`). */
  readonly parameters: Readonly<Record<string, string>>;
  /** Physical ids of resources the caller created (logical id → Ref value). */
  readonly physicalIds?: Readonly<Record<string, string>>;
}

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

/** Default ← StackSet value ← instance override, as StackSets resolve parameters. */
export function effectiveParameters(
  template: CfnTemplate,
  stackSetValues: Readonly<Record<string, string>>,
  overrides: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, decl] of Object.entries(template.Parameters ?? {})) {
    const value = overrides[key] ?? stackSetValues[key] ?? decl.Default;
    if (value === undefined)
      throw new TemplateError(`parameter ${key} has no value, no StackSet value and no default`);
    out[key] = String(value);
  }
  return out;
}

/**
 * The property holding a resource's name, for the types whose Ref is their name (an SQS queue's
 * Ref is its URL: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sqs-queue.html#aws-resource-sqs-queue-return-values).
 */
const NAME_PROPERTY: Readonly<Record<string, string>> = {
  'AWS::IAM::Role': 'RoleName',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::Kinesis::Stream': 'Name',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::Events::Rule': 'Name',
  'AWS::Logs::LogGroup': 'LogGroupName',
};

/** Thrown by a resolver for Ref AWS::NoValue: the key is left out. */
const NO_VALUE = Symbol('AWS::NoValue');

export class TemplateReader {
  private readonly conditionCache = new Map<string, boolean>();

  constructor(
    readonly template: CfnTemplate,
    readonly scope: StackScope,
  ) {}

  get partition(): string {
    return this.scope.partition ?? 'aws';
  }

  resource(logicalId: string): CfnResource {
    const r = this.template.Resources[logicalId];
    if (!r) throw new TemplateError(`no resource ${logicalId} in the template`);
    return r;
  }

  /** Logical ids of resources of `type` whose properties satisfy `where`. */
  find(type: string, where: (properties: Record<string, unknown>) => boolean = () => true): string[] {
    return Object.entries(this.template.Resources)
      .filter(([, r]) => r.Type === type && where(r.Properties ?? {}))
      .map(([id]) => id);
  }

  /** The single resource of `type` matching `where`; fails naming what was looked for. */
  findOne(type: string, what: string, where?: (properties: Record<string, unknown>) => boolean): string {
    const ids = this.find(type, where);
    if (ids.length !== 1)
      throw new TemplateError(`expected one ${type} (${what}) in the template, found ${ids.length}`);
    return ids[0] as string;
  }

  condition(name: string): boolean {
    const cached = this.conditionCache.get(name);
    if (cached !== undefined) return cached;
    const expr = this.template.Conditions?.[name];
    if (expr === undefined) throw new TemplateError(`no condition ${name} in the template`);
    const value = this.evaluateCondition(expr, `Conditions.${name}`);
    this.conditionCache.set(name, value);
    return value;
  }

  /** A resource property, resolved. */
  property(logicalId: string, name: string): unknown {
    return this.resolve(this.resource(logicalId).Properties?.[name], `${logicalId}.${name}`);
  }

  /** Resolves every intrinsic in `value`. */
  resolve(value: unknown, at = '(value)'): unknown {
    const out = this.walk(value, at);
    return out === NO_VALUE ? undefined : out;
  }

  /** Resolves to a string (fails on anything else). */
  string(value: unknown, at: string): string {
    const out = this.resolve(value, at);
    if (typeof out !== 'string')
      throw new TemplateError(`${at} resolved to ${JSON.stringify(out)}, not a string`);
    return out;
  }

  /** A function's Environment.Variables, resolved to strings. */
  environment(functionLogicalId: string): Record<string, string> {
    const env = this.property(functionLogicalId, 'Environment') as { Variables?: Record<string, unknown> };
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(env?.Variables ?? {})) {
      out[k] = typeof v === 'string' ? v : String(v);
    }
    return out;
  }

  private evaluateCondition(expr: unknown, at: string): boolean {
    if (typeof expr === 'boolean') return expr;
    if (expr && typeof expr === 'object' && !Array.isArray(expr)) {
      const [fn, arg] = Object.entries(expr)[0] ?? [];
      const args = arg as unknown[];
      switch (fn) {
        case 'Condition':
          return this.condition(String(arg));
        case 'Fn::Equals':
          return JSON.stringify(this.resolve(args[0], at)) === JSON.stringify(this.resolve(args[1], at));
        case 'Fn::Not':
          return !this.evaluateCondition(args[0], at);
        case 'Fn::And':
          return args.every((a) => this.evaluateCondition(a, at));
        case 'Fn::Or':
          return args.some((a) => this.evaluateCondition(a, at));
      }
    }
    throw new TemplateError(`unsupported condition at ${at}: ${JSON.stringify(expr)}`);
  }

  private pseudo(name: string, at: string): string | typeof NO_VALUE {
    const s = this.scope;
    switch (name) {
      case 'AWS::Region':
        return s.region;
      case 'AWS::AccountId':
        return s.account;
      case 'AWS::Partition':
        return this.partition;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return s.stackName;
      case 'AWS::StackId':
        return (
          s.stackId ??
          `arn:${this.partition}:cloudformation:${s.region}:${s.account}:stack/${s.stackName}/demo`
        );
      case 'AWS::NoValue':
        return NO_VALUE;
    }
    throw new TemplateError(`unsupported pseudo parameter ${name} at ${at}`);
  }

  private ref(name: string, at: string): unknown {
    if (name.startsWith('AWS::')) return this.pseudo(name, at);
    if (name in (this.template.Parameters ?? {})) {
      const value = this.scope.parameters[name];
      if (value === undefined) throw new TemplateError(`parameter ${name} has no value (at ${at})`);
      // A CommaDelimitedList parameter's Ref is a list of strings (Parameters, "CommaDelimitedList":
      // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html).
      return this.template.Parameters?.[name]?.Type === 'CommaDelimitedList' ? value.split(',') : value;
    }
    const physical = this.scope.physicalIds?.[name];
    if (physical !== undefined) return physical;
    const r = this.resource(name);
    // Ref of these types is their name, which our templates always set. Not of an SQS queue:
    // its Ref is the queue URL, which only SQS hands out (the caller creates it, physicalIds).
    const prop = NAME_PROPERTY[r.Type];
    if (prop && r.Type !== 'AWS::SQS::Queue') return this.nameOf(name, at);
    throw new TemplateError(`Ref ${name} (${r.Type}) at ${at}: no physical id known to the demo`);
  }

  /** The name property of a resource (what its ARN is built from). */
  private nameOf(logicalId: string, at: string): unknown {
    const r = this.resource(logicalId);
    const prop = NAME_PROPERTY[r.Type];
    if (prop && r.Properties?.[prop] !== undefined)
      return this.walk(r.Properties[prop], `${logicalId}.${prop}`);
    throw new TemplateError(`${logicalId} (${r.Type}) at ${at}: no name known to the demo`);
  }

  private getAtt(logicalId: string, attribute: string, at: string): unknown {
    const r = this.resource(logicalId);
    if (attribute !== 'Arn')
      throw new TemplateError(`unsupported Fn::GetAtt ${logicalId}.${attribute} at ${at}`);
    const { region, account } = this.scope;
    const p = this.partition;
    const name = () => String(this.ref(logicalId, at));
    switch (r.Type) {
      case 'AWS::IAM::Role':
        return `arn:${p}:iam::${account}:role/${name()}`;
      case 'AWS::Lambda::Function':
        return `arn:${p}:lambda:${region}:${account}:function:${name()}`;
      case 'AWS::Kinesis::Stream':
        return `arn:${p}:kinesis:${region}:${account}:stream/${name()}`;
      case 'AWS::S3::Bucket':
        return `arn:${p}:s3:::${name()}`;
      case 'AWS::SQS::Queue':
        return `arn:${p}:sqs:${region}:${account}:${String(this.nameOf(logicalId, at))}`;
      case 'AWS::Logs::LogGroup':
        return `arn:${p}:logs:${region}:${account}:log-group:${name()}:*`;
    }
    throw new TemplateError(`unsupported Fn::GetAtt ${logicalId}.Arn (${r.Type}) at ${at}`);
  }

  private walk(value: unknown, at: string): unknown {
    if (Array.isArray(value)) {
      return value.map((v, i) => this.walk(v, `${at}[${i}]`)).filter((v) => v !== NO_VALUE);
    }
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    const first = entries[0];
    if (entries.length === 1 && first && (first[0] === 'Ref' || first[0].startsWith('Fn::'))) {
      const [fn, arg] = first;
      const args = arg as unknown[];
      switch (fn) {
        case 'Ref':
          return this.ref(String(arg), at);
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
          return this.getAtt(String(id), String(attr), at);
        }
        case 'Fn::Join': {
          const parts = this.walk(args[1], at) as unknown[];
          return parts.map((p) => String(p)).join(String(args[0]));
        }
        case 'Fn::If': {
          const chosen = this.condition(String(args[0])) ? args[1] : args[2];
          return this.walk(chosen, at);
        }
        case 'Fn::Select': {
          const list = this.walk(args[1], at) as unknown[];
          return list[Number(this.walk(args[0], at))];
        }
        case 'Fn::Split':
          return String(this.walk(args[1], at)).split(String(args[0]));
        case 'Fn::Sub': {
          const [text, vars] =
            typeof arg === 'string' ? [arg, {}] : (args as [string, Record<string, unknown>]);
          return text.replace(/\$\{([^}!][^}]*)\}/g, (_, name: string) => {
            if (name in vars) return String(this.walk(vars[name], at));
            const dot = name.indexOf('.');
            if (dot > 0 && !name.startsWith('AWS::'))
              return String(this.getAtt(name.slice(0, dot), name.slice(dot + 1), at));
            return String(this.ref(name, at));
          });
        }
      }
      throw new TemplateError(`unsupported intrinsic ${fn} at ${at}`);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      const resolved = this.walk(v, `${at}.${k}`);
      if (resolved !== NO_VALUE) out[k] = resolved;
    }
    return out;
  }
}
