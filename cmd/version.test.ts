import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderVersion, versionLine, versionReport, type Runtime } from './version.ts';

const GOLDEN = new URL('./testdata/golden/', import.meta.url);
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

function golden(name: string, actual: string): void {
  const file = new URL(name, GOLDEN);
  if (UPDATE) writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

const BUILD = { version: '1.2.3', commit: '0a1b2c3-dirty' };
const SEA: Runtime = { nodeVersion: 'v26.10.0', platform: 'linux', arch: 'x64', singleExecutable: true };

describe('kubectl remote-secret version', () => {
  it('text output matches its golden file', () => {
    golden('version.txt', renderVersion(versionReport(BUILD, SEA), 'text'));
  });

  it('-o json output matches its golden file', () => {
    golden('version.json', renderVersion(versionReport(BUILD, SEA), 'json'));
  });

  it('--version prints the first line of `version`', () => {
    const text = renderVersion(versionReport(BUILD, SEA), 'text');
    expect(text.split('\n')[0]).toBe(versionLine(BUILD));
  });

  it('says so when a Node from the machine runs it', () => {
    const text = renderVersion(versionReport(BUILD, { ...SEA, singleExecutable: false }), 'text');
    expect(text).toContain('node: v26.10.0\n');
  });

  it.each([
    { platform: 'linux', arch: 'x64', expected: 'linux/amd64' },
    { platform: 'linux', arch: 'arm64', expected: 'linux/arm64' },
    { platform: 'darwin', arch: 'arm64', expected: 'darwin/arm64' },
    { platform: 'darwin', arch: 'x64', expected: 'darwin/amd64' },
    { platform: 'win32', arch: 'ia32', expected: 'windows/386' },
  ])('names $platform/$arch as kubectl and krew do: $expected', ({ platform, arch, expected }) => {
    expect(versionReport(BUILD, { ...SEA, platform, arch }).platform).toBe(expected);
  });
});
