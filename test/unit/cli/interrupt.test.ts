import { onForcedExit, withStopInterrupt } from '../../../lib/cli/interrupt';

/** Ctrl-C as tcpdump users expect it: stop and keep, then cancel, then quit at once. */
describe('withStopInterrupt', () => {
  it('aborts stop at the first signal, cancel at the second, and quits at the third after the last-resort cleanups', async () => {
    const seen: string[] = [];
    const quit = jest.fn();
    const forget = onForcedExit(() => seen.push('cleanup'));

    await withStopInterrupt(
      async ({ stop, cancel }) => {
        stop.addEventListener('abort', () => seen.push('stop'));
        cancel.addEventListener('abort', () => seen.push('cancel'));
        process.emit('SIGINT');
        expect([stop.aborted, cancel.aborted]).toEqual([true, false]);
        process.emit('SIGINT');
        expect(cancel.aborted).toBe(true);
        expect(quit).not.toHaveBeenCalled();
        process.emit('SIGTERM');
      },
      { onThirdSignal: quit },
    );
    forget();

    expect(seen).toEqual(['stop', 'cancel', 'cleanup']);
    expect(quit).toHaveBeenCalledTimes(1);
  });

  it('removes its handlers when the work ends', async () => {
    const before = process.listenerCount('SIGINT');
    await withStopInterrupt(async () => expect(process.listenerCount('SIGINT')).toBe(before + 1));
    expect(process.listenerCount('SIGINT')).toBe(before);
  });
});
