/** A small markdown table writer, padded so the raw text reads as a table too. */

/**
 * @param {string[]} headers
 * @param {Array<Array<string | number>>} rows
 * @param {{ align?: Array<'left' | 'right'> }} [options] per column; numbers default to right
 * @returns {string} the table, without a trailing newline
 */
export function markdownTable(headers, rows, options = {}) {
  const cells = rows.map((row) => headers.map((_, index) => escapeCell(String(row[index] ?? ''))));
  const head = headers.map((header) => escapeCell(header));
  const align = headers.map((_, index) => options.align?.[index] ?? (index === 0 ? 'left' : 'right'));
  const widths = head.map((header, index) =>
    Math.max(3, header.length, ...cells.map((row) => row[index].length)),
  );
  const pad = (text, index) =>
    align[index] === 'right' ? text.padStart(widths[index]) : text.padEnd(widths[index]);
  const line = (values) => `| ${values.map((value, index) => pad(value, index)).join(' | ')} |`;
  const rule = `| ${widths.map((width, index) => (align[index] === 'right' ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width))).join(' | ')} |`;
  return [line(head), rule, ...cells.map(line)].join('\n');
}

function escapeCell(text) {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}
