import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isEmbeddableJson, MAX_DEPTH } from '../../../shared/sumo/json';

/** No lone UTF-16 surrogates (String.prototype.isWellFormed, not in the ES2023 lib types). */
function wellFormed(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

/** The specification isEmbeddableJson implements, written the slow, obvious way. */
function reference(s: string): boolean {
  if (!/^[[{]/.test(s) || /[\r\n]/.test(s) || !wellFormed(s)) return false;
  try {
    JSON.parse(s);
  } catch {
    return false;
  }
  // JSON.parse accepts leading/trailing \r\n too (excluded above) and unlimited depth.
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') max = Math.max(max, ++depth);
    else if (c === '}' || c === ']') depth--;
  }
  return max <= MAX_DEPTH;
}

const jsonText = fc.oneof(
  fc.json(),
  fc.jsonValue().map((v) => JSON.stringify({ v })),
  fc.jsonValue().map((v) => JSON.stringify([v], null, '\t')),
  fc.jsonValue().map((v) => JSON.stringify({ v }, null, 2)),
);

/** Blanks JSON allows between tokens, and the ones embeddable JSON refuses (CR, LF). */
const blank = fc.constantFrom('', '', '', ' ', '\t', ' \t ', '\r', '\n');

/** JSON.stringify output with blanks between every pair of tokens, drawn in turn from `blanks`. */
function spaced(v: unknown, blanks: readonly string[]): string {
  let k = 0;
  const b = () => (blanks.length === 0 ? '' : (blanks[k++ % blanks.length] as string));
  const write = (x: unknown): string => {
    if (Array.isArray(x)) return `[${b()}${x.map((e) => write(e)).join(`${b()},${b()}`)}${b()}]`;
    if (x !== null && typeof x === 'object')
      return `{${b()}${Object.entries(x)
        .map(([key, e]) => `${JSON.stringify(key)}${b()}:${b()}${write(e)}`)
        .join(`${b()},${b()}`)}${b()}}`;
    return JSON.stringify(x);
  };
  return write(v);
}

/** Strings with escapes, surrogate pairs and (escaped) lone surrogates; numbers of every shape. */
const exoticValue = fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 });
const spacedText = fc
  .tuple(
    fc.oneof(
      exoticValue.map((v) => ({ v })),
      fc.array(exoticValue, { maxLength: 6 }),
      fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), exoticValue, { maxKeys: 6 }),
    ),
    fc.array(blank, { maxLength: 8 }),
  )
  .map(([v, blanks]) => spaced(v, blanks));

/** Characters that matter to the scanner, lone surrogates and controls included. */
const anyChar = fc.oneof(
  fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }),
  fc.constantFrom(
    '"',
    '\\',
    '{',
    '}',
    '[',
    ']',
    ',',
    ':',
    ' ',
    '\t',
    '\r',
    '\n',
    '\u0000',
    '\u001f',
    '0',
    '-',
    '+',
    '.',
    'e',
    'u',
    '\ud800',
    '\udc00',
    '\udbff',
    '\udfff',
    'v',
    'g',
    'x',
    'E',
  ),
);

/**
 * Token-level near-JSON: containers of scalars where any scalar, key, separator or closer may
 * be a subtly wrong variant (`01`, `1e`, `"\v"`, `"\u12g4"`, a lone surrogate, `,]`, `{…]`).
 */
/** Mostly `good`, sometimes one of `bad`: so a document is often wrong in exactly one place. */
const mostly = (good: string[], bad: string[]) =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...good), weight: 25 },
    { arbitrary: fc.constantFrom(...bad), weight: 1 },
  );
const scalarToken = mostly(
  ['0', '-0', '7', '1.5', '-12e+3', '1E-2', '2e9', 'true', 'false', 'null'].concat([
    '""',
    '"a"',
    '"\\n"',
    '"\\u00e9"',
    '"\\uABcd"',
    '"\\/"',
    '"\\"\\\\"',
    '"😀"',
    '"é\\t"',
  ]),
  ['01', '1.', '1e', '1e+', '.5', '+1', '-', '1.e2', 'tru', 'nul', 'True', "'a'"].concat([
    '"\\v"',
    '"\\x41"',
    '"\\u12g4"',
    '"\\u00"',
    '"\ud800"',
    '"\udc00x"',
    '"a\nb"',
    '"\u0000"',
    '"\\"',
  ]),
);
const keyToken = mostly(
  ['"k"', '"key"', '"\\u0041"', '"😀"', '""'],
  ['k', '1', '"\\q"', '"\udbff"', '"\\uG000"'],
);
const sep = mostly([',', ', ', ',\t', ' ,'], ['', ',,', ':', '\n,']);
const colon = mostly([':', ': ', ' :\t'], ['', '=', '::', ',']);
const { nearJson } = fc.letrec((tie) => ({
  nearJson: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarToken,
    fc
      .tuple(
        fc.array(fc.tuple(tie('nearJson'), sep), { maxLength: 5 }),
        mostly([']', ' ]'], ['}', ',]', ']]']),
      )
      .map(([xs, close]) => `[${xs.map(([v, c], i) => (i < xs.length - 1 ? v + c : v)).join('')}${close}`),
    fc
      .tuple(
        fc.array(fc.tuple(keyToken, colon, tie('nearJson'), sep), { maxLength: 5 }),
        mostly(['}', '\t}'], [']', ',}', '}}']),
      )
      .map(
        ([xs, close]) =>
          `{${xs.map(([k, c, v, s], i) => (i < xs.length - 1 ? k + c + v + s : k + c + v)).join('')}${close}`,
      ),
  ),
}));

/** JSON text with one character inserted, deleted or replaced. */
const mutated = fc
  .tuple(
    fc.oneof(jsonText, spacedText, nearJson),
    fc.nat(),
    fc.constantFrom('insert', 'delete', 'replace'),
    anyChar,
  )
  .map(([s, at, op, ch]) => {
    const i = s.length === 0 ? 0 : at % s.length;
    if (op === 'insert') return s.slice(0, i) + ch + s.slice(i);
    if (op === 'delete') return s.slice(0, i) + s.slice(i + 1);
    return s.slice(0, i) + ch + s.slice(i + 1);
  });

describe('isEmbeddableJson (properties)', () => {
  it('agrees with JSON.parse-based reference on JSON text, mutations and arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(jsonText, spacedText, nearJson, mutated, fc.string({ unit: 'binary' })), (s) => {
        expect(isEmbeddableJson(s)).toBe(reference(s));
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with the reference on spaced, exotic JSON and on two mutations of it', () => {
    fc.assert(
      fc.property(
        spacedText,
        fc.array(fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), anyChar), {
          maxLength: 2,
        }),
        (text, edits) => {
          let s = text;
          for (const [at, op, ch] of edits) {
            const i = s.length === 0 ? 0 : at % s.length;
            s =
              op === 'insert'
                ? s.slice(0, i) + ch + s.slice(i)
                : s.slice(0, i) + (op === 'replace' ? ch : '') + s.slice(i + 1);
          }
          expect(isEmbeddableJson(s)).toBe(reference(s));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('handles megabyte documents (long strings, many members, long runs of values) exactly', () => {
    const members = JSON.stringify(
      Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i % 3 ? i : `v\u00e9${i}`])),
    );
    const values = JSON.stringify(Array.from({ length: 200_000 }, (_, i) => (i % 2 ? i * 1.5 : null)));
    const cases = [
      JSON.stringify({ a: 'x'.repeat(1_000_000), b: '"\\\u00e9😀'.repeat(100_000) }),
      members,
      values,
      `${members.slice(0, -1)},}`,
      `${values.slice(0, -1)},]`,
      `[${'1'.repeat(1_000_000)}x]`,
      `{"a":"${'x'.repeat(1_000_000)}\ud800"}`,
    ];
    expect(cases.map(isEmbeddableJson)).toStrictEqual(cases.map(reference));
    expect(cases.map(isEmbeddableJson)).toStrictEqual([true, true, true, false, false, false, false]);
  });

  it('accepts objects and arrays, refuses scalars, newlines, lone surrogates and deep nesting', () => {
    expect(isEmbeddableJson('{"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"]}  \t')).toBe(true);
    expect(isEmbeddableJson('[]')).toBe(true);
    expect(isEmbeddableJson('"text"')).toBe(false);
    expect(isEmbeddableJson('42')).toBe(false);
    expect(isEmbeddableJson('{"a":1}\n')).toBe(false);
    expect(isEmbeddableJson('{\n"a":1}')).toBe(false);
    expect(isEmbeddableJson('{"a":"\ud800"}')).toBe(false);
    expect(isEmbeddableJson('{"a":"😀"}')).toBe(true);
    expect(isEmbeddableJson('{"a":1}{"b":2}')).toBe(false);
    expect(isEmbeddableJson('{{ "Source": "dlq" }')).toBe(false);
    expect(isEmbeddableJson(`${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}`)).toBe(true);
    expect(isEmbeddableJson(`${'['.repeat(MAX_DEPTH + 1)}${']'.repeat(MAX_DEPTH + 1)}`)).toBe(false);
    expect(isEmbeddableJson('{"a":01}')).toBe(false);
    expect(isEmbeddableJson('{"a":1.}')).toBe(false);
    // Each refused by the regex runs and by the char loop (first member vs. after a nested value).
    for (const bad of ['"\\u12g4"', '"\\v"', '"\\u00"', '1e', '1e+', '01', '-', '"\ud800"', '"a\tb"'])
      expect(
        [`[${bad}]`, `{"a":${bad}}`, `[[0],${bad}]`, `{"b":{},"a":${bad}}`].map(isEmbeddableJson),
      ).toStrictEqual([false, false, false, false]);
    expect(isEmbeddableJson('{"a":1]')).toBe(false);
    expect(isEmbeddableJson('[1}')).toBe(false);
    expect(isEmbeddableJson('{"a":"\\uABcd\\/","b":-0.5E+2,"c":[true ,\tnull],"d":{"e":"😀"}}')).toBe(true);
  });
});
