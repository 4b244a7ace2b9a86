import { stat } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TimeSlicer } from './time-slices.ts';

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('TimeSlicer', () => {
  it('lets an I/O callback that is waiting run between slices of a long job', async () => {
    const slicer = new TimeSlicer(2);
    const order: string[] = [];
    // Queued before the job starts; a job that never yields would finish first.
    setImmediate(() => order.push('waiting callback'));
    for (let unit = 0; unit < 10; unit += 1) {
      busy(1);
      order.push(`unit ${String(unit)}`);
      await slicer.due();
    }
    expect(order.indexOf('waiting callback')).toBeGreaterThan(0);
    expect(order.indexOf('waiting callback')).toBeLessThan(order.length - 1);
    expect(slicer.yields).toBeGreaterThan(0);
  });

  it('resumed in an I/O callback, lets the loop go round (timers, poll) before the next slice', async () => {
    const timerRan = await new Promise<boolean>((resolve, reject) => {
      // An I/O callback, as when a page of a list has arrived: the job resumes in the poll phase.
      stat(import.meta.dirname, (error) => {
        if (error !== null) {
          reject(error);
          return;
        }
        let ran = false;
        setTimeout(() => (ran = true), 0);
        busy(3); // the timer is due before the slicer yields
        const slicer = new TimeSlicer(0);
        void slicer.due().then(() => {
          resolve(ran);
        }, reject);
      });
    });
    expect(timerRan).toBe(true);
  });

  it('does not yield before its slice is used up', async () => {
    const slicer = new TimeSlicer(60_000);
    for (let unit = 0; unit < 1000; unit += 1) await slicer.due();
    expect(slicer.yields).toBe(0);
  });
});
