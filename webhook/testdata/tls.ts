import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCertificateAuthority,
  issueServingCertificate,
  type Certificate,
} from '../../shared/pki/certificate.ts';

/** A CA and a serving pair for 127.0.0.1/localhost, written as the Deployment mounts them. */
export interface TlsFixture {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: Certificate;
  readonly leaf: Certificate;
}

export function writeTlsFixture(dir = mkdtempSync(join(tmpdir(), 'webhook-tls-'))): TlsFixture {
  const ca = createCertificateAuthority({ commonName: 'webhook-test-ca', validityDays: 1 });
  const leaf = issueServingCertificate(ca, { hosts: ['localhost', '127.0.0.1'], validityDays: 1 });
  const fixture = { dir, certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), ca, leaf };
  writePair(fixture, leaf);
  return fixture;
}

/** Replace both files atomically, one after the other, as a Secret volume update does. */
export function writePair(fixture: Pick<TlsFixture, 'certFile' | 'keyFile'>, leaf: Certificate): void {
  writeFileSync(`${fixture.keyFile}.new`, leaf.privateKeyPem);
  writeFileSync(`${fixture.certFile}.new`, leaf.certificatePem);
  renameSync(`${fixture.keyFile}.new`, fixture.keyFile);
  renameSync(`${fixture.certFile}.new`, fixture.certFile);
}
