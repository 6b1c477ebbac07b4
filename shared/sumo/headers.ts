/**
 * Sumo Logic HTTP source headers for a stream of events
 * (https://help.sumologic.com/docs/send-data/hosted-collectors/http-source/logs-metrics/upload-logs/):
 * `X-Sumo-Category`, `X-Sumo-Name`, `X-Sumo-Host` from templates over `{account}`,
 * `{region}`, `{logGroup}`, `{logStream}`, and `X-Sumo-Fields` with `account`, `region`,
 * `logGroup` plus static `k=v` pairs. Every request carries one header set, so events are
 * grouped by it before they are batched.
 */
import { ConfigError } from '../errors';
import type { StreamContext } from './line';

export const DEFAULT_CATEGORY_TEMPLATE = 'aws/cloudwatch/{account}/{region}/{logGroup}';
export const DEFAULT_NAME_TEMPLATE = '{logGroup}';
export const DEFAULT_HOST_TEMPLATE = '{account}';
export const TEMPLATE_PLACEHOLDERS = ['account', 'region', 'logGroup', 'logStream'] as const;

export interface HeaderTemplates {
  readonly category: string;
  readonly name: string;
  readonly host: string;
  /** Static fields added to every request, already validated. */
  readonly staticFields: readonly (readonly [string, string])[];
}

/** The headers of one request (values are safe HTTP header text). */
export interface SumoHeaders {
  readonly 'X-Sumo-Category': string;
  readonly 'X-Sumo-Name': string;
  readonly 'X-Sumo-Host': string;
  readonly 'X-Sumo-Fields': string;
}

const PLACEHOLDER = /\{([A-Za-z]+)\}/g;
const FIELD_KEY = /^[A-Za-z0-9_.-]{1,255}$/;

/** Throws ConfigError when a template names a placeholder we do not know. */
export function checkTemplate(name: string, template: string): void {
  for (const match of template.matchAll(PLACEHOLDER)) {
    if (!(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(match[1] ?? '')) {
      throw new ConfigError('Sumo header template', [
        {
          path: name,
          message: `unknown placeholder {${match[1]}}; use ${TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
          received: template,
        },
      ]);
    }
  }
}

/** Parses `SUMO_FIELDS` (`k=v,k2=v2`, empty allowed). */
export function parseStaticFields(text: string, path = 'SUMO_FIELDS'): [string, string][] {
  const out: [string, string][] = [];
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq).trim();
    const value = eq < 0 ? '' : item.slice(eq + 1).trim();
    if (eq < 0 || !FIELD_KEY.test(key) || value === '' || /[=\r\n]/.test(value)) {
      throw new ConfigError('Sumo fields', [
        { path, message: 'expected comma-separated key=value pairs', received: item },
      ]);
    }
    out.push([key, value]);
  }
  return out;
}

/** Printable ASCII only: Node refuses other bytes in header values. */
function headerSafe(value: string): string {
  return /[^\x20-\x7e]/.test(value) ? value.replace(/[^\x20-\x7e]/g, '_') : value;
}

/** X-Sumo-Fields values cannot hold the separators `,` and `=`. */
function fieldSafe(value: string): string {
  return headerSafe(value).replace(/[,=]/g, '_');
}

export function renderTemplate(template: string, ctx: StreamContext): string {
  return template.replace(PLACEHOLDER, (whole, name: string) =>
    name === 'account' || name === 'region' || name === 'logGroup' || name === 'logStream'
      ? ctx[name]
      : whole,
  );
}

/** True when a template set makes headers differ per log stream (more, smaller requests). */
export function usesLogStream(t: HeaderTemplates): boolean {
  return [t.category, t.name, t.host].some((x) => x.includes('{logStream}'));
}

export function buildHeaders(t: HeaderTemplates, ctx: StreamContext): SumoHeaders {
  const fields = [
    `account=${fieldSafe(ctx.account)}`,
    `region=${fieldSafe(ctx.region)}`,
    `logGroup=${fieldSafe(ctx.logGroup)}`,
    ...t.staticFields.map(([k, v]) => `${k}=${fieldSafe(v)}`),
  ].join(',');
  return {
    // Log group names start with '/': collapse the '//' a template would otherwise produce.
    'X-Sumo-Category': headerSafe(renderTemplate(t.category, ctx)).replace(/\/{2,}/g, '/'),
    'X-Sumo-Name': headerSafe(renderTemplate(t.name, ctx)),
    'X-Sumo-Host': headerSafe(renderTemplate(t.host, ctx)),
    'X-Sumo-Fields': fields,
  };
}

/** A string identifying a header set, for grouping. */
export function headersKey(h: SumoHeaders): string {
  return `${h['X-Sumo-Category']}\n${h['X-Sumo-Name']}\n${h['X-Sumo-Host']}\n${h['X-Sumo-Fields']}`;
}
