import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';

/**
 * A fresh canary for every test: a token file whose access time is set before its modification
 * time (on a relatime mount any read moves it), and the path of a marker file that the exec
 * plugin of `execPlugin()` creates if it ever runs.
 */
export interface Canary {
  readonly dir: string;
  /** Where `token-file`/`tokenFile` point. */
  readonly tokenFile: string;
  /** Created by the exec plugin, if it runs. */
  readonly marker: string;
  /** Whether anything has read the token file. */
  accessed(): boolean;
  /** An exec stanza that touches the marker and answers with a token. */
  execPlugin(): Record<string, unknown>;
}

const OLD = new Date('2001-01-01T00:00:00Z');

/** Register the canary's set-up and clean-up in the calling describe block. */
export function useCanary(prefix: string): Canary {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    writeFileSync(join(dir, 'canary-token'), 'canary-token-value\n');
    utimesSync(join(dir, 'canary-token'), OLD, new Date());
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    get tokenFile() {
      return join(dir, 'canary-token');
    },
    get marker() {
      return join(dir, 'exec-ran');
    },
    accessed() {
      return statSync(join(dir, 'canary-token')).atimeMs !== OLD.getTime();
    },
    execPlugin() {
      return {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: '/bin/sh',
        args: [
          '-c',
          `touch '${join(dir, 'exec-ran')}'; echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"x"}}'`,
        ],
        interactiveMode: 'Never',
      };
    },
  };
}
