import { readFileSync } from 'node:fs';

/**
 * A real, test-only CA certificate (EC P-256, CN fixture-ca.example, its key thrown away when it
 * was made): client-go refuses CA data that does not parse, so fixtures need a real one.
 */
export const FIXTURE_CA_PEM = readFileSync(new URL('./fixture-ca.crt', import.meta.url), 'utf8');

/** FIXTURE_CA_PEM as `certificate-authority-data` holds it. */
export const FIXTURE_CA_DATA = Buffer.from(FIXTURE_CA_PEM, 'utf8').toString('base64');
