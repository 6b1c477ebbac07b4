/**
 * A function of a template recorded in moto's Lambda (CreateFunction), for what reads a deployed
 * function's configuration: `log-reflector coverage` finds the reconciler's buckets, StackSet
 * names and regions in `log-reflector-enrollment`'s environment (GetFunctionConfiguration,
 * central/cli/coverage.ts), as in a deployed organization. The record has the template's name,
 * runtime, handler, timeout, memory, architecture, environment, its inline code (`Code.ZipFile`)
 * as `index.js` in a zip, and its execution role, which moto requires to exist in the account
 * (moto/awslambda/models.py, put_function) — created with the template's name and trust policy;
 * its policies are left out (moto evaluates none). moto runs no code without Docker: the demo
 * invokes the handler in-process (lambda.ts).
 */
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { type Architecture, CreateFunctionCommand, LambdaClient, type Runtime } from '@aws-sdk/client-lambda';
import type { EmulatedAccount } from './aws';
import { type CfnTemplate, type StackScope, TemplateError, TemplateReader } from './cfn-template';

/** CRC-32 (ISO-HDLC, the zip polynomial 0xEDB88320); Node 20.0 has no zlib.crc32. */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    let c = (crc ^ byte) & 0xff;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * A zip archive holding one file, stored (no compression): local header, data, central
 * directory, end of central directory (APPNOTE.TXT 4.3; https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT).
 */
export function storedZip(fileName: string, content: string): Uint8Array {
  const name = Buffer.from(fileName, 'utf8');
  const data = Buffer.from(content, 'utf8');
  const crc = crc32(data);
  const dosDate = (1 << 5) | 1; // 1980-01-01, the earliest DOS date
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4); // version needed: 2.0
  local.writeUInt16LE(0x0800, 6); // UTF-8 name
  local.writeUInt16LE(0, 8); // stored
  local.writeUInt16LE(0, 10);
  local.writeUInt16LE(dosDate, 12);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(name.length, 26);
  local.writeUInt16LE(0, 28);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4); // made by: 2.0
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(0x0800, 8);
  central.writeUInt16LE(0, 10);
  central.writeUInt16LE(0, 12);
  central.writeUInt16LE(dosDate, 14);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(name.length, 28);
  // extra, comment, disk, internal and external attributes, local header offset: all 0
  const centralOffset = local.length + name.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + name.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  return Buffer.concat([local, name, data, central, name, end]);
}

/** Records function `logicalId` of `template` in `account` × `scope.region`; returns its ARN. */
export async function recordFunction(
  account: EmulatedAccount,
  template: CfnTemplate,
  scope: StackScope,
  logicalId: string,
): Promise<string> {
  const r = new TemplateReader(template, scope);
  const role = (r.resource(logicalId).Properties?.Role as { 'Fn::GetAtt'?: [string, string] } | undefined)?.[
    'Fn::GetAtt'
  ]?.[0];
  if (role === undefined || r.resource(role).Type !== 'AWS::IAM::Role')
    throw new TemplateError(`${logicalId}.Role is not a Fn::GetAtt of a role of its template`);
  const code = (r.property(logicalId, 'Code') as { ZipFile?: unknown } | undefined)?.ZipFile;
  if (typeof code !== 'string') throw new TemplateError(`${logicalId} has no inline Code.ZipFile`);
  await account.client(IAMClient, scope.region).send(
    new CreateRoleCommand({
      RoleName: r.string(r.resource(role).Properties?.RoleName, `${role}.RoleName`),
      AssumeRolePolicyDocument: JSON.stringify(r.property(role, 'AssumeRolePolicyDocument')),
    }),
  );
  const created = await account.client(LambdaClient, scope.region).send(
    new CreateFunctionCommand({
      FunctionName: r.string(r.property(logicalId, 'FunctionName'), `${logicalId}.FunctionName`),
      Description: r.property(logicalId, 'Description') as string | undefined,
      Runtime: r.property(logicalId, 'Runtime') as Runtime,
      Handler: r.property(logicalId, 'Handler') as string,
      Role: r.string(r.resource(logicalId).Properties?.Role, `${logicalId}.Role`),
      Timeout: Number(r.property(logicalId, 'Timeout')),
      MemorySize: Number(r.property(logicalId, 'MemorySize')),
      Architectures: r.property(logicalId, 'Architectures') as Architecture[],
      Environment: { Variables: r.environment(logicalId) },
      Code: { ZipFile: storedZip('index.js', code) },
    }),
  );
  return created.FunctionArn ?? '';
}
