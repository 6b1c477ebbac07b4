import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../shared/errors';
import {
  buildHeaders,
  checkTemplate,
  DEFAULT_CATEGORY_TEMPLATE,
  DEFAULT_HOST_TEMPLATE,
  DEFAULT_NAME_TEMPLATE,
  type HeaderTemplates,
  headersKey,
  parseStaticFields,
  usesLogStream,
} from '../../../shared/sumo/headers';

const ctx = {
  account: '123456789012',
  region: 'eu-west-1',
  logGroup: '/aws/lambda/orders',
  logStream: '2026/11/26/[$LATEST]abc',
};
const defaults: HeaderTemplates = {
  category: DEFAULT_CATEGORY_TEMPLATE,
  name: DEFAULT_NAME_TEMPLATE,
  host: DEFAULT_HOST_TEMPLATE,
  staticFields: [],
};

describe('buildHeaders', () => {
  it('renders the default templates and the searchable fields', () => {
    expect(buildHeaders(defaults, ctx)).toStrictEqual({
      'X-Sumo-Category': 'aws/cloudwatch/123456789012/eu-west-1/aws/lambda/orders',
      'X-Sumo-Name': '/aws/lambda/orders',
      'X-Sumo-Host': '123456789012',
      'X-Sumo-Fields': 'account=123456789012,region=eu-west-1,logGroup=/aws/lambda/orders',
    });
  });

  it('adds static fields and renders custom templates, with header-safe values', () => {
    const t: HeaderTemplates = {
      category: 'prod/{region}/{logGroup}/{logStream}',
      name: '{logStream}',
      host: 'aws-{account}',
      staticFields: parseStaticFields('env=prod, team = payments'),
    };
    const h = buildHeaders(t, { ...ctx, logGroup: 'grp,with=odd', logStream: 'strëam' });
    expect(h).toStrictEqual({
      'X-Sumo-Category': 'prod/eu-west-1/grp,with=odd/str_am',
      'X-Sumo-Name': 'str_am',
      'X-Sumo-Host': 'aws-123456789012',
      'X-Sumo-Fields': 'account=123456789012,region=eu-west-1,logGroup=grp_with_odd,env=prod,team=payments',
    });
    expect(usesLogStream(t)).toBe(true);
    expect(usesLogStream(defaults)).toBe(false);
  });

  it('gives one key per distinct header set', () => {
    const a = headersKey(buildHeaders(defaults, ctx));
    expect(headersKey(buildHeaders(defaults, { ...ctx, logStream: 'other' }))).toBe(a);
    expect(headersKey(buildHeaders(defaults, { ...ctx, region: 'us-east-1' }))).not.toBe(a);
  });
});

describe('configuration checks', () => {
  it('refuses unknown placeholders, naming the variable and value', () => {
    expect(() => checkTemplate('SUMO_CATEGORY_TEMPLATE', 'aws/{acount}')).toThrow(ConfigError);
    try {
      checkTemplate('SUMO_CATEGORY_TEMPLATE', 'aws/{acount}');
    } catch (err) {
      expect((err as ConfigError).issues).toStrictEqual([
        {
          path: 'SUMO_CATEGORY_TEMPLATE',
          message: 'unknown placeholder {acount}; use {account}, {region}, {logGroup}, {logStream}',
          received: 'aws/{acount}',
        },
      ]);
    }
  });

  it('parses k=v lists and refuses malformed pairs', () => {
    expect(parseStaticFields('')).toStrictEqual([]);
    expect(parseStaticFields('a=1,b=x y')).toStrictEqual([
      ['a', '1'],
      ['b', 'x y'],
    ]);
    for (const bad of ['novalue', 'a=', '=v', 'bad key=v', 'a=b=c']) {
      expect(() => parseStaticFields(bad), bad).toThrow(ConfigError);
    }
  });
});
