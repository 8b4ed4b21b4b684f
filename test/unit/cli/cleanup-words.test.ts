import type { SessionView } from '../../../lib/domain/session';
import { unconfirmedCleanup } from '../../../lib/cli/session-runner';

/** A cancelled session's view whose record says how many hosts confirmed their cleanup. */
const cancelled = (cleanup?: unknown): SessionView => ({
  sessionId: 'dt-20261206070000-abc123',
  status: 'CANCELLED',
  error: {
    code: 'CANCELLED',
    message: 'cancelled',
    hint: '',
    ...(cleanup !== undefined && { details: { cleanup } }),
  },
});

describe('what `cancel` can promise of the hosts', () => {
  it('says nothing more when every host confirmed, or when the record predates the count', () => {
    expect(unconfirmedCleanup(cancelled({ hosts: 3, confirmed: 3 }))).toBeUndefined();
    expect(unconfirmedCleanup(cancelled())).toBeUndefined();
    expect(unconfirmedCleanup(cancelled({ hosts: 'three' }))).toBeUndefined();
  });

  it('counts the hosts that had not confirmed, in words', () => {
    expect(unconfirmedCleanup(cancelled({ hosts: 1, confirmed: 0 }))).toBe('1 of 1 host has');
    expect(unconfirmedCleanup(cancelled({ hosts: 3, confirmed: 1 }))).toBe('2 of 3 hosts have');
  });
});
