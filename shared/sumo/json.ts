/**
 * Decides, without allocating, whether a log message can be embedded in an NDJSON line as
 * a raw JSON value (so Sumo Logic sees an object, not an escaped string).
 *
 * Accepted: exactly one JSON object or array (RFC 8259), optionally followed by spaces or tabs,
 * with no raw CR or LF anywhere (they would split the NDJSON line), no lone UTF-16
 * surrogates (they would not survive UTF-8 encoding unchanged) and nesting ≤ `MAX_DEPTH`.
 * Everything else is sent as a JSON string instead, so the line is always valid JSON.
 *
 * Hand-written because `JSON.parse` would build the whole object tree just to throw it
 * away. Runs of scalar members are checked by one sticky native regex call each (MEMBERS,
 * VALUES); nesting, keys after a nested value and the depth limit by a char-code loop. On the
 * benchmark workload this is ~30 % less CPU than a char loop with `indexOf` per string
 * (test/bench/reflector/json-check.micro.ts). A property test checks it against `JSON.parse`.
 */

/** Deeper documents are sent as strings (still lossless, just not an object in Sumo). */
export const MAX_DEPTH = 64;

const OBJ = 1;
const ARR = 2;
const stack = new Uint8Array(MAX_DEPTH + 1);

function skipBlanks(s: string, i: number): number {
  let c = s.charCodeAt(i);
  while (c === 32 || c === 9) c = s.charCodeAt(++i);
  return i;
}

/**
 * Length of the escape sequence whose backslash is at `b` (`\uXXXX` → 6, `\n` and the other
 * single-character escapes → 2), or -1 when it is not a valid JSON escape.
 */
function escapeLength(s: string, b: number): number {
  const e = s.charCodeAt(b + 1);
  if (e === 117) {
    for (let k = b + 2; k < b + 6; k++) {
      const h = s.charCodeAt(k);
      if (!((h >= 48 && h <= 57) || (h >= 65 && h <= 70) || (h >= 97 && h <= 102))) return -1;
    }
    return 6;
  }
  // " \ / b f n r t
  if (e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116)
    return 2;
  return -1;
}

/** Index after the string starting at `i` (which holds `"`), or -1 when invalid. */
function scanString(s: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const c = s.charCodeAt(j);
    // Printable ASCII other than `"` and `\`, and non-surrogate BMP: the common case.
    if (c > 92 ? c < 0xd800 || c > 0xdfff : c >= 32 && c !== 34 && c !== 92) {
      j++;
    } else if (c === 34) {
      return j + 1;
    } else if (c === 92) {
      const len = escapeLength(s, j);
      if (len < 0) return -1;
      j += len;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      // A high surrogate must be followed by a low one.
      const d = s.charCodeAt(j + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return -1;
      j += 2;
    } else {
      // Controls (CR/LF would split the line), a lone low surrogate, or the end (NaN).
      return -1;
    }
  }
}

/** One JSON string, exactly: no controls, valid escapes, surrogates only in pairs. */
const PLAIN = String.raw`[^"\\\u0000-\u001f\ud800-\udfff]*`;
const STRING = String.raw`"${PLAIN}(?:(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})|[\ud800-\udbff][\udc00-\udfff])${PLAIN})*"`;
const SCALAR = String.raw`(?:${STRING}|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)`;
/**
 * Runs of `"key":scalar,` (object) and `scalar,` (array), each member followed by its comma:
 * one native regex call checks the flat parts of a document, the loop below the rest.
 * Matching fewer members than there are is safe: the loop parses whatever follows.
 */
const MEMBER = String.raw`${STRING}[ \t]*:[ \t]*${SCALAR}[ \t]*`;
const MEMBERS = new RegExp(String.raw`(?:${MEMBER},[ \t]*)*(?:${MEMBER}\})?`, 'y');
const VALUES = new RegExp(String.raw`(?:${SCALAR}[ \t]*,[ \t]*)*(?:${SCALAR}[ \t]*\])?`, 'y');

function skipMembers(s: string, i: number): number {
  MEMBERS.lastIndex = i;
  MEMBERS.test(s);
  return MEMBERS.lastIndex;
}

function skipValues(s: string, i: number): number {
  VALUES.lastIndex = i;
  VALUES.test(s);
  return VALUES.lastIndex;
}

/** Index of the value after the key `"…"` and its colon at `i`, or -1 when there is none. */
function scanKey(s: string, i: number): number {
  if (s.charCodeAt(i) !== 34) return -1;
  let j = scanString(s, i);
  if (j < 0) return -1;
  j = skipBlanks(s, j);
  if (s.charCodeAt(j) !== 58) return -1;
  return skipBlanks(s, j + 1);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Index after the number starting at `i`, or -1 when invalid. */
function scanNumber(s: string, i: number): number {
  let j = i;
  if (s.charCodeAt(j) === 45) j++;
  let c = s.charCodeAt(j);
  if (c === 48) {
    j++;
  } else if (c >= 49 && c <= 57) {
    do c = s.charCodeAt(++j);
    while (isDigit(c));
  } else {
    return -1;
  }
  if (s.charCodeAt(j) === 46) {
    j++;
    if (!isDigit(s.charCodeAt(j))) return -1;
    while (isDigit(s.charCodeAt(j))) j++;
  }
  c = s.charCodeAt(j);
  if (c === 101 || c === 69) {
    j++;
    c = s.charCodeAt(j);
    if (c === 43 || c === 45) j++;
    if (!isDigit(s.charCodeAt(j))) return -1;
    while (isDigit(s.charCodeAt(j))) j++;
  }
  return j;
}

/** True when `s` is one JSON object or array that can be embedded raw in an NDJSON line. */
export function isEmbeddableJson(s: string): boolean {
  const n = s.length;
  const first = s.charCodeAt(0);
  if (first !== 123 && first !== 91) return false;
  let depth = 0;
  let i = 0;
  for (;;) {
    // ---- a value starts at i ----
    let c = s.charCodeAt(i);
    if (c === 123 || c === 91) {
      if (depth === MAX_DEPTH) return false;
      stack[depth++] = c === 123 ? OBJ : ARR;
      i = skipBlanks(s, i + 1);
      const close = c === 123 ? 125 : 93;
      if (s.charCodeAt(i) === close) {
        depth--;
        i++;
      } else {
        i = c === 123 ? skipMembers(s, i) : skipValues(s, i);
        // The regex consumed the whole (flat) container, closing bracket included.
        if (s.charCodeAt(i - 1) === close) {
          depth--;
        } else {
          if (c === 123) {
            i = scanKey(s, i);
            if (i < 0) return false;
          }
          continue;
        }
      }
    } else if (c === 34) {
      i = scanString(s, i);
      if (i < 0) return false;
    } else if (c === 45 || isDigit(c)) {
      i = scanNumber(s, i);
      if (i < 0) return false;
    } else if (c === 116) {
      if (!s.startsWith('true', i)) return false;
      i += 4;
    } else if (c === 102) {
      if (!s.startsWith('false', i)) return false;
      i += 5;
    } else if (c === 110) {
      if (!s.startsWith('null', i)) return false;
      i += 4;
    } else {
      return false;
    }
    // ---- after a value: close containers or move to the next member ----
    for (;;) {
      i = skipBlanks(s, i);
      if (depth === 0) return i === n;
      c = s.charCodeAt(i);
      const top = stack[depth - 1];
      if (c === 44) {
        i = skipBlanks(s, i + 1);
        if (top === OBJ) {
          i = skipMembers(s, i);
          if (s.charCodeAt(i - 1) === 125) {
            depth--;
            continue;
          }
          i = scanKey(s, i);
          if (i < 0) return false;
        } else {
          i = skipValues(s, i);
          if (s.charCodeAt(i - 1) === 93) {
            depth--;
            continue;
          }
        }
        break;
      }
      if ((top === OBJ && c === 125) || (top === ARR && c === 93)) {
        depth--;
        i++;
        continue;
      }
      return false;
    }
  }
}
