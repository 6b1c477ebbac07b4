/**
 * fast-check arbitraries of raw HTTP/1.1 responses for fuzzing the lean client's parser:
 * mostly well-formed responses (so that acceptance is frequent and statuses get compared)
 * with one or more of the faults met in the wild or built by an attacker — status lines
 * with extra digits or letters, odd versions, Content-Length lists and signs, Transfer-Encoding
 * mixed with Content-Length, control characters, obs-fold, bare LF, oversized heads, broken
 * chunk framing, bytes after the end — and byte-level mutations of all of them.
 */
import fc from 'fast-check';

const CRLF = '\r\n';

const reason = fc.oneof(
  fc.constantFrom('OK', 'Created', 'Too Many Requests', 'Service Unavailable', '', 'Weird  reason\t'),
  fc.string({ unit: 'binary-ascii', maxLength: 12 }),
);

const code = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(200, 202, 204, 400, 401, 403, 404, 408, 429, 500, 503) },
  { weight: 2, arbitrary: fc.integer({ min: 100, max: 599 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 999 }) },
);

/** A status line, well-formed or not (no line ending). */
const statusLine = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.constantFrom('1.1', '1.0'), code, reason)
      .map(([v, c, r]) => `HTTP/${v} ${String(c).padStart(3, '0')} ${r}`),
  },
  { weight: 1, arbitrary: code.map((c) => `HTTP/1.1 ${String(c).padStart(3, '0')}`) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'HTTP/1.1 2000 OK',
      'HTTP/1.1 200x OK',
      'HTTP/1.1 20 OK',
      'HTTP/1.1  200 OK',
      'HTTP/1.1 200OK',
      'http/1.1 200 OK',
      'HTTP/1.2 200 OK',
      'HTTP/2.0 200 OK',
      'HTTP/0.9 200 OK',
      'HTTP/1.10 200 OK',
      'HTTP/11 200 OK',
      'HTTP/1.1 -200 OK',
      'HTTP/1.1 +20 OK',
      'HTTP/1.1 2\u00b900 OK',
      'HTTP/1.1 200 O\u0000K',
      'HTTP/1.1 200 O\u007fK',
      'HTTP/1.1 200\tOK',
      ' HTTP/1.1 200 OK',
      '',
      'garbage',
    ),
  },
);

const tokenName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,10}$/);
const fieldValue = fc.string({
  unit: fc.constantFrom('a', 'Z', '0', ' ', '\t', '=', ';', ',', '"'),
  maxLength: 16,
});

/** One header field line (no line ending), valid or not; `kind` says what it frames. */
export interface Field {
  readonly line: string;
  readonly kind?: 'length' | 'chunked' | 'coding' | 'close';
  readonly length?: number;
}

const contentLength = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.nat(40).map((n): Field => ({ line: `Content-Length: ${n}`, kind: 'length', length: n })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.nat(40),
        fc.constantFrom(
          (n: number) => `${n}, ${n}`,
          (n: number) => `${n},${n + 1}`,
          (n: number) => `+${n}`,
          (n: number) => `-${n}`,
          (n: number) => `0x${n.toString(16)}`,
          (n: number) => ` ${n} `,
          (n: number) => `${n} ${n}`,
          (n: number) => `${n}.0`,
          () => '',
          () => '99999999999999999999',
          (n: number) => `${n}a`,
        ),
      )
      .map(([n, f]): Field => ({ line: `Content-Length: ${f(n)}`, kind: 'length', length: n })),
  },
);

const transferEncoding = fc
  .constantFrom(
    'chunked',
    'Chunked',
    'gzip, chunked',
    'chunked, gzip',
    'chunked, chunked',
    'x-chunked',
    'gzip',
    '',
    ', chunked',
    'chunked;q=1',
  )
  .map(
    (v): Field => ({ line: `Transfer-Encoding: ${v}`, kind: /chunked\s*$/i.test(v) ? 'chunked' : 'coding' }),
  );

const otherField = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(tokenName, fieldValue).map(([n, v]): Field => ({ line: `${n}: ${v}` })) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<Field>(
      { line: 'Connection: close', kind: 'close' },
      { line: 'Connection: keep-alive' },
      { line: 'Keep-Alive: timeout=5, max=100' },
      { line: 'Retry-After: 3' },
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom<Field>(
      { line: 'X-Space : a' },
      { line: 'NoColon' },
      { line: ': empty-name' },
      { line: 'X(A: b' },
      { line: 'X-Ctl: a\u0001b' },
      { line: 'X-Nul: a\u0000b' },
      { line: 'X-Del: a\u007fb' },
      { line: 'X-Cr: a\rb' },
      { line: ' X-Lead: a' },
      { line: 'X-Fold: a\r\n b' },
      { line: 'X-Obs: caf\u00e9' },
      { line: 'X-Utf8: \u00c3\u00a9' },
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 7_000, max: 18_000 })
      .map((n): Field => ({ line: `X-Big: ${'b'.repeat(n)}` })),
  },
);

/** Chunked body text: chunks, the last chunk, trailers; with faults now and then. */
const chunkedBody = fc
  .tuple(
    fc.array(fc.tuple(fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 12 }), fc.nat(8)), {
      maxLength: 3,
    }),
    fc.constantFrom('', 'X-T: 1\r\n', 'X T: 1\r\n', 'X-T: a\u0001\r\n'),
    fc.constantFrom('0', '00', '000'),
    fc.boolean(),
  )
  .map(([chunks, trailer, last, complete]) => {
    const faults = [
      (d: string) => `${d.length.toString(16)}\r\n${d}\r\n`,
      (d: string) => `${d.length.toString(16)};ext=1\r\n${d}\r\n`,
      (d: string) => `${d.length.toString(16)};ext="q v"\r\n${d}\r\n`,
      (d: string) => `${d.length.toString(16)} \r\n${d}\r\n`,
      (d: string) => `${d.length.toString(16)} ; e = 1\r\n${d}\r\n`,
      (d: string) => `0x${d.length.toString(16)}\r\n${d}\r\n`,
      (d: string) => `${(d.length + 1).toString(16)}\r\n${d}\r\n`,
      (d: string) => `${d.length.toString(16)}\r\n${d}x\r\n`,
      (d: string) => `${d.length.toString(16)}\n${d}\r\n`,
      (d: string) => `FFFFFFFFFFFFFFFFFF\r\n${d}\r\n`,
      (d: string) => `-${d.length.toString(16)}\r\n${d}\r\n`,
    ];
    let text = '';
    for (const [data, f] of chunks)
      text += (faults[f > 2 ? f % faults.length : 0] as (d: string) => string)(data);
    text += `${last}\r\n${trailer}`;
    return complete ? `${text}\r\n` : text;
  });

/** A response as raw latin1 text. */
export const rawResponse: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      { weight: 5, arbitrary: fc.constant('') },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'HTTP/1.1 100 Continue\r\n\r\n',
          'HTTP/1.1 101 Switching Protocols\r\n\r\n',
          'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n',
          '\r\n',
        ),
      },
    ),
    statusLine,
    fc.array(
      fc.oneof(
        { weight: 4, arbitrary: otherField },
        { weight: 3, arbitrary: contentLength },
        { weight: 2, arbitrary: transferEncoding },
      ),
      { maxLength: 4 },
    ),
    fc.string({ unit: 'binary-ascii', maxLength: 50 }),
    chunkedBody,
    fc.oneof(
      { weight: 6, arbitrary: fc.constant(CRLF) },
      { weight: 1, arbitrary: fc.constantFrom('\n', '\r') },
    ),
    fc.oneof(
      { weight: 5, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.constantFrom('EXTRA', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n') },
    ),
    fc.nat(100),
  )
  .map(([interim, status, fields, body, chunked, eol, extra, cut]) => {
    const isChunked = fields.some((f) => f.kind === 'chunked');
    const length = fields.find((f) => f.kind === 'length')?.length;
    let content = isChunked
      ? chunked
      : length !== undefined
        ? body.padEnd(length, 'x').slice(0, length)
        : body;
    // Now and then a body cut short.
    if (cut < 8 && content.length > 0) content = content.slice(0, cut % content.length);
    return `${interim}${status}${eol}${fields.map((f) => `${f.line}${eol}`).join('')}${eol}${content}${extra}`;
  });

/** `rawResponse` with a few bytes flipped, inserted or removed. */
export const mutatedResponse: fc.Arbitrary<string> = fc
  .tuple(
    rawResponse,
    fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
  )
  .map(([text, edits]) => {
    let s = text;
    for (const [at, op, byte] of edits) {
      const i = s.length === 0 ? 0 : at % s.length;
      const c = String.fromCharCode(byte);
      if (op === 0) s = s.slice(0, i) + c + s.slice(i + 1);
      else if (op === 1) s = s.slice(0, i) + c + s.slice(i);
      else s = s.slice(0, i) + s.slice(i + 1);
    }
    return s;
  });

/** Any response of either kind. */
export const anyResponse = fc.oneof(
  { weight: 3, arbitrary: rawResponse },
  { weight: 1, arbitrary: mutatedResponse },
);
