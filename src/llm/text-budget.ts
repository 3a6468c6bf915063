/** Helpers that bound text to a UTF-8 byte budget, saying what they cut. */

/** UTF-8 bytes of a string. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** The longest prefix of `text` within `maxBytes` UTF-8 bytes, never splitting a character. */
export function headBytes(text: string, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  const buffer = Buffer.from(text, 'utf8');
  if (buffer.length <= maxBytes) return text;
  return buffer
    .subarray(0, maxBytes)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
}

/** The longest suffix of `text` within `maxBytes` UTF-8 bytes, never splitting a character. */
export function tailBytes(text: string, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  const buffer = Buffer.from(text, 'utf8');
  if (buffer.length <= maxBytes) return text;
  return buffer
    .subarray(buffer.length - maxBytes)
    .toString('utf8')
    .replace(/^\uFFFD+/, '');
}

/** Keeps the head of `text` within `maxBytes`, ending with a marker that says how much was cut. */
export function truncateEnd(text: string, maxBytes: number): string {
  const size = utf8Bytes(text);
  if (size <= maxBytes) return text;
  const marker = `\n… [truncated: ${String(size)} bytes, the rest left out]`;
  return headBytes(text, Math.max(0, maxBytes - utf8Bytes(marker))) + marker;
}

/** Keeps the head and the tail of `text` within `maxBytes`, with a marker in the middle. */
export function truncateMiddle(text: string, maxBytes: number): string {
  const size = utf8Bytes(text);
  if (size <= maxBytes) return text;
  const marker = `\n… [${String(size)} bytes, the middle left out] …\n`;
  const room = Math.max(0, maxBytes - utf8Bytes(marker));
  const head = headBytes(text, Math.ceil(room * 0.4));
  const tail = tailBytes(text, Math.floor(room * 0.6));
  return head + marker + tail;
}

/** Keeps the first `headLines` and the last `tailLines` lines, with a marker for the lines between. */
export function trimLines(lines: readonly string[], headLines: number, tailLines: number): string[] {
  if (lines.length <= headLines + tailLines + 1) return [...lines];
  const cut = lines.length - headLines - tailLines;
  return [
    ...lines.slice(0, headLines),
    `… [${String(cut)} lines left out] …`,
    ...lines.slice(lines.length - tailLines),
  ];
}

/** Removes ANSI escape sequences (coloured tracebacks) and other control characters but tab and newline. */
export function stripControl(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what this removes
  return text.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
}

/** `1536` → `1.5 KB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${String(bytes)} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 ? value.toFixed(0) : value.toFixed(1)} ${units[unit] ?? 'TB'}`;
}
