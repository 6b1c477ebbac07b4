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

/** JSON text with one character inserted, deleted or replaced. */
const mutated = fc
  .tuple(
    jsonText,
    fc.nat(),
    fc.constantFrom('insert', 'delete', 'replace'),
    fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }),
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
      fc.property(fc.oneof(jsonText, mutated, fc.string({ unit: 'binary' })), (s) => {
        expect(isEmbeddableJson(s)).toBe(reference(s));
      }),
      { numRuns: 3000 },
    );
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
  });
});
