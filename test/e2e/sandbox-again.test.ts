import { ensureSandboxImages } from '../../lib/sandbox/sandbox-images';
import { startSandbox, type Sandbox } from '../../lib/sandbox/sandbox';
import { runCli } from '../support/cli';
import { requireDocker } from '../support/docker';

jest.setTimeout(180_000);

/**
 * The sandbox runs the functions in its own process, as the benchmark does one suite after another:
 * a second sandbox must answer with its own stand-ins, not the clients (and audit stream) the
 * first one's endpoints made, which are closed by then.
 */
describe('a second sandbox in the same process', () => {
  it('audits and starts a session on its own stand-ins after the first one stopped', async () => {
    requireDocker();
    const { toolbox } = await ensureSandboxImages();
    const first = await startSandbox({ toolboxImage: toolbox });
    const task = 'arn:aws:ecs:xx-sandbox-1:123456789012:task/sandbox/0123456789abcdef0123456789abcdef';
    const start = (box: Sandbox) =>
      runCli(
        [
          task,
          '--tool',
          'tcpdump',
          '--duration',
          '3s',
          '--api-url',
          box.apiUrl,
          '--cluster',
          'sandbox',
          '--no-wait',
          '--json',
        ],
        {
          env: {
            AWS_ACCESS_KEY_ID: box.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: box.credentials.secretAccessKey,
            AWS_REGION: box.region,
          },
        },
      );
    try {
      expect((await start(first)).code).toBe(0);
    } finally {
      await first.stop();
    }

    const second = await startSandbox({ toolboxImage: toolbox });
    try {
      const run = await start(second);
      expect([run.code, run.stderr.slice(-1000)]).toEqual([0, expect.any(String)]);
      const { sessionId } = run.json() as { sessionId: string };
      expect(second.auditLog.events()).toContainEqual(
        expect.objectContaining({ type: 'session.requested', sessionId }),
      );
    } finally {
      await second.stop();
    }
  });
});
