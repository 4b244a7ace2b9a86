import { describe, expect, it } from 'vitest';
import { quote } from './quote.ts';
import { reviewKubeconfig } from './review.ts';

describe('quote: untrusted values in messages', () => {
  it.each([
    { value: 'east', shown: '"east"' },
    { value: '', shown: '""' },
    {
      value: 'gke_project-123456_us-central1-a_a-cluster-name',
      shown: '"gke_project-123456_us-central1-a_a-cluster-name"',
    },
    { value: 'x'.repeat(120), shown: `"${'x'.repeat(100)}…"` },
    {
      value: 'ctx0users:\n- name: u0\n  user: {token: SECRET}',
      shown: '(a value of 45 characters over several lines, not shown)',
    },
    { value: 'a\u2028b', shown: '(a value of 3 characters over several lines, not shown)' },
  ])('shows $shown', ({ value, shown }) => {
    expect(quote(value)).toBe(shown);
  });

  it('never repeats a token that broken YAML folded into a name (found by fuzzing)', () => {
    // A `|-` block without a line break after it swallows the users section into current-context.
    const text = [
      'apiVersion: v1',
      'clusters:',
      '- {name: c0, cluster: {server: "https://east.example"}}',
      'contexts:',
      '- {name: ctx0, context: {cluster: c0, user: u0}}',
      'current-context: |-',
      '    ctx0users:',
      '    - name: u0',
      '      user: {token: "CANARY-token-never-printed"}',
      '',
    ].join('\n');
    const result = reviewKubeconfig(text, { allow: new Set<string>() });
    expect(result.allowed).toBe(false);
    expect(JSON.stringify(result)).not.toContain('CANARY');
  });
});
