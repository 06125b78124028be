import test from 'ava';
import fc from 'fast-check';
import { ApiClient } from '../../../src/cli/apiClient.ts';
import { formatTable, printable } from '../../../src/cli/output.ts';

/** The characters `printable` escapes: C0, DEL, C1, line and paragraph separators, direction marks. */
const isControl = (c: string): boolean => {
  const n = c.codePointAt(0) as number;
  return (
    n < 0x20 ||
    (n >= 0x7f && n <= 0x9f) ||
    n === 0x2028 ||
    n === 0x2029 ||
    n === 0x200e ||
    n === 0x200f ||
    (n >= 0x202a && n <= 0x202e) ||
    (n >= 0x2066 && n <= 0x2069)
  );
};

test('printable: control characters, line separators and direction marks become visible escapes', (t) => {
  t.is(printable('a\nb\r\tc'), 'a\\nb\\r\\tc');
  t.is(printable('\u001b[2J\u0007\u007f\u009b'), '\\u001b[2J\\u0007\\u007f\\u009b');
  t.is(printable('x\u2028y\u202ez\u2066'), 'x\\u2028y\\u202ez\\u2066');
  t.is(printable('plain text, émigré, 日本, 🦦'), 'plain text, émigré, 日本, 🦦');
});

test('printable: whatever the text, no control character is left, and the rest of the text is kept in order', (t) => {
  const unit = fc.oneof(
    fc.constantFrom('\u200e', '\u2067', '\u202e', '\u009b', '\u001b', '\n', '\\'),
    fc.string({ unit: 'binary', maxLength: 1 }),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 80 }), (text) => {
        const out = printable(text);
        if ([...out].some(isControl)) return false;
        // each character is itself or, if a control, its escape: the output is the input, character by character
        const expected = [...text].map((c) => (isControl(c) ? printable(c) : c)).join('');
        return out === expected && [...text].every((c) => isControl(c) || printable(c) === c);
      }),
      { numRuns: 2000 },
    ),
  );
  // and each control's escape names it: \n, \r, \t, or \u and its four hex digits
  for (let code = 0; code < 0x2070; code++) {
    const c = String.fromCharCode(code);
    if (!isControl(c)) continue;
    const escaped = printable(c);
    const named = ({ '\n': '\\n', '\r': '\\r', '\t': '\\t' } as Record<string, string>)[c];
    t.is(escaped, named ?? `\\u${code.toString(16).padStart(4, '0')}`);
  }
});

test('tables and server messages are printed through printable', (t) => {
  const table = formatTable(['A', 'B'], [['x\u001b[31m', 'y\nz']]);
  t.is(table, 'A            B\nx\\u001b[31m  y\\nz\n');
  const client = new ApiClient({ url: 'http://127.0.0.1:1', token: 't' });
  const error = client.httpError(
    409,
    JSON.stringify({ error: { code: 'c', message: 'no\u001b]0;x\u0007' } }),
  );
  t.is(error.message, 'no\\u001b]0;x\\u0007 [c] (HTTP 409)');
});
