import { precompileFilter } from '../../../lib/cli/filter-check';
import { runCli } from '../../support/cli';

// Each test starts the real CLI (node + tsx): seconds on a loaded machine, with other test files
// running in the other workers.
jest.setTimeout(30_000);

const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';

describe('precompileFilter (tcpdump -d on this machine, before a session starts)', () => {
  it('compiles a valid filter, brackets and operators included', async () => {
    await expect(precompileFilter('tcp port 443 and (tcp[13] & 2 != 0 or host 10.0.0.5)')).resolves.toBe(
      'compiled',
    );
  });

  it('throws INVALID_FILTER with tcpdump’s reason for a filter that does not compile', async () => {
    await expect(precompileFilter('tcp port eighty')).rejects.toMatchObject({
      code: 'INVALID_FILTER',
      message: expect.stringMatching(/does not compile: unknown port 'eighty'/),
    });
  });

  it('leaves the check to the host when this machine has no tcpdump', async () => {
    await expect(precompileFilter('tcp port eighty', '/nonexistent/tcpdump')).resolves.toBe('no-tcpdump');
  });

  it('makes the CLI exit 2 before calling the API', async () => {
    const run = await runCli([
      TASK,
      '--tool',
      'tcpdump',
      '--filter',
      'tcp prot 80',
      '--json',
      '--api-url',
      'http://127.0.0.1:9/',
    ]);
    expect(run.code).toBe(2);
    expect(run.json().error.code).toBe('INVALID_FILTER');
  });
});
