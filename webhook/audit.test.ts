import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './audit.ts';

function capture(): { stream: Writable; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, lines: () => text.split('\n').filter((line) => line !== '') };
}

describe('createLogger', () => {
  it('writes each key once in a child logger line', () => {
    const { stream, lines } = capture();
    const log = createLogger('info', stream);
    log.info('root line');
    log.child({ component: 'controller' }).info({ namespace: 'istio-system' }, 'child line');
    const [root, child] = lines();
    expect(JSON.parse(root ?? '')).toMatchObject({ service: 'remote-secret-webhook', msg: 'root line' });
    // JSON.parse keeps the last of two equal keys, so count them in the text itself.
    expect(child?.match(/"component":/g)).toHaveLength(1);
    expect(child?.match(/"service":/g)).toHaveLength(1);
    expect(JSON.parse(child ?? '')).toMatchObject({
      service: 'remote-secret-webhook',
      component: 'controller',
    });
  });

  it('redacts kubeconfigs and tokens', () => {
    const { stream, lines } = capture();
    createLogger('info', stream).info({ token: 'secret-token', object: { data: { east: 'a2NmZw==' } } }, 'x');
    expect(lines()[0]).not.toMatch(/secret-token|a2NmZw==/);
  });
});
