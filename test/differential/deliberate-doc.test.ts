import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { DELIBERATE } from './deliberate.ts';

/**
 * docs/istio-parity.md lists every case where check, audit and the webhook are deliberately
 * stricter than istiod, with the reason: the table the differential suites accept such cases by.
 * This test keeps the document and that table one and the same (UPDATE_GOLDEN=1 rewrites it).
 */
const DOC = fileURLToPath(new URL('../../docs/istio-parity.md', import.meta.url));
const START = '<!-- deliberate:start -->';
const END = '<!-- deliberate:end -->';

function table(): string {
  const cell = (text: string): string => text.replaceAll('|', '\\|');
  return [
    '| code | which cases | why |',
    '| --- | --- | --- |',
    ...DELIBERATE.map(
      ({ code, message, reason }) =>
        `| \`${code}\` | ${message === undefined ? 'all' : `message matching \`${cell(message.source)}\``} | ${cell(reason)} |`,
    ),
  ].join('\n');
}

it('docs/istio-parity.md lists every deliberate difference from istiod, with its reason', () => {
  const text = readFileSync(DOC, 'utf8');
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  expect(start, `docs/istio-parity.md needs a ${START} ... ${END} section`).toBeGreaterThan(-1);
  if (process.env['UPDATE_GOLDEN'] === '1') {
    writeFileSync(DOC, `${text.slice(0, start + START.length)}\n${table()}\n${text.slice(end)}`);
  }
  const current = readFileSync(DOC, 'utf8');
  expect(current.slice(current.indexOf(START) + START.length, current.indexOf(END)).trim()).toBe(table());
});
