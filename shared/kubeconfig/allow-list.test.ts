import { describe, expect, it } from 'vitest';
import { AllowListError, parseAllowList } from './allow-list.ts';

describe('parseAllowList', () => {
  it.each([
    { values: ['exec', 'tokenFile,gcp'], allow: ['exec', 'tokenFile', 'gcp'] },
    { values: ['certificateAuthority'], allow: ['certificateAuthority'] },
    { values: [' clientKey , ', ''], allow: ['clientKey'] },
  ])('reads $values', ({ values, allow }) => {
    expect([...parseAllowList(values)]).toEqual(allow);
  });

  it.each([
    { value: 'tokenfile', message: '--allow tokenfile: did you mean tokenFile?' },
    { value: 'CertificateAuthority', message: 'did you mean certificateAuthority?' },
    { value: 'exec!', message: "or certificateAuthority (ours, not Istio's)" },
  ])('refuses $value', ({ value, message }) => {
    expect(() => parseAllowList([value])).toThrow(AllowListError);
    expect(() => parseAllowList([value])).toThrow(message);
  });
});
