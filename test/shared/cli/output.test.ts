/** Progress goes to stderr on a terminal only, and never with --json (quiet). */
import { describe, expect, it } from 'vitest';
import {
  formatCsv,
  formatTable,
  type ProgressStream,
  progressBar,
  progressEnabled,
  statusLine,
} from '../../../shared/cli/output';

function fakeStream(isTTY: boolean): ProgressStream & { written: string[] } {
  const written: string[] = [];
  return {
    isTTY,
    written,
    write: ((chunk: string) => {
      written.push(chunk);
      return true;
    }) as ProgressStream['write'],
  };
}

describe('statusLine', () => {
  it('redraws one line in place on a terminal and erases it when done', () => {
    const stream = fakeStream(true);
    const line = statusLine(false, stream);
    line.update('reading 10');
    line.update('reading 20');
    line.clear();
    line.clear();
    expect(stream.written).toStrictEqual(['\rreading 10\x1b[K', '\rreading 20\x1b[K', '\r\x1b[K']);
  });

  it('writes nothing when stderr is not a terminal', () => {
    const stream = fakeStream(false);
    const line = statusLine(false, stream);
    line.update('reading 10');
    line.clear();
    expect(stream.written).toStrictEqual([]);
  });

  it('writes nothing when quiet (--json), even on a terminal', () => {
    const stream = fakeStream(true);
    const line = statusLine(true, stream);
    line.update('reading 10');
    line.clear();
    expect(stream.written).toStrictEqual([]);
    expect(progressEnabled(true, stream)).toBe(false);
    expect(progressEnabled(false, stream)).toBe(true);
  });
});

describe('progressBar', () => {
  it('draws the label and count on a terminal, ending at the total', () => {
    const stream = fakeStream(true);
    const bar = progressBar(3, 'reading coverage reports', false, stream);
    bar.tick();
    bar.tick(2);
    bar.stop();
    const text = stream.written.join('');
    expect(text).toContain('reading coverage reports [');
    expect(text).toContain('0/3 0%');
    expect(text).toContain('3/3 100%');
  });

  it.each([
    ['stderr is not a terminal', false, false],
    ['quiet (--json)', true, true],
  ])('writes nothing when %s', (_, isTTY, quiet) => {
    const stream = fakeStream(isTTY);
    const bar = progressBar(3, 'reading coverage reports', quiet, stream);
    bar.tick(3);
    bar.stop();
    expect(stream.written).toStrictEqual([]);
  });
});

describe('formatTable', () => {
  it('aligns columns and leaves no trailing blanks', () => {
    expect(formatTable([{ a: 'x', b: 1 }, { a: 'longer' }], ['a', 'b'])).toBe(
      ['a       b', '------  -', 'x       1', 'longer'].join('\n'),
    );
  });
});

describe('formatCsv', () => {
  it('writes a header and one line per row, quoting commas, quotes and line breaks, empty for undefined', () => {
    expect(
      formatCsv(
        [
          { a: 'plain', b: 3, c: undefined },
          { a: 'x, y', b: 'say "hi"', c: 'two\nlines' },
        ],
        ['a', 'b', 'c'],
      ),
    ).toBe('a,b,c\nplain,3,\n"x, y","say ""hi""","two\nlines"');
  });
});
