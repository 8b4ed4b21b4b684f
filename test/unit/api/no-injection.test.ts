import {
  DescribeContainerInstancesCommand,
  DescribeTasksCommand,
  ListTasksCommand,
} from '@aws-sdk/client-ecs';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DescribeInstanceInformationCommand } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import fc from 'fast-check';
import { handler as doctorFunction } from '../../../lambda/doctor';
import { handler as planFunction } from '../../../lambda/plan';
import { handleApiRequest } from '../../../lib/api/routes';
import { parseTaskRef } from '../../../lib/domain/arn';
import { isErrorCode } from '../../../lib/domain/errors';
import { hostParamRegExp } from '../../../lib/domain/params';
import type { ExecutionInput } from '../../../lib/domain/session';
import type { RouteName } from '../../../lib/domain/routes';
import { apiEvent } from '../../support/api-event';
import { aws, useAwsMocks } from '../../support/aws';
import { expectHostSafe, hostileJson, hostileString } from '../../support/hostile';

/**
 * No injection through the API: a hostile value in any field of a request is either refused with a
 * typed 400, or it reaches StartExecution only in a field whose host pattern (HOST_PARAMS) accepts it.
 */

useAwsMocks();

const { sfn, s3, ecs, ssm } = aws;

const TASK = 'arn:aws:ecs:xx-test-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';
const VALID = {
  target: { task: TASK, container: 'web' },
  tool: 'tcpdump',
  durationSeconds: 30,
  maxBytes: 10_000_000,
  filter: 'tcp port 443',
  iface: 'eth0',
  snaplen: 96,
  allowHostNetwork: false,
  allowHostPid: false,
  reason: 'INC-42',
};
const FIELDS = [
  'target.task',
  'target.cluster',
  'target.container',
  'tool',
  'durationSeconds',
  'maxBytes',
  'filter',
  'iface',
  'snaplen',
  'allowHostNetwork',
  'allowHostPid',
  'reason',
] as const;
const RUNS = { numRuns: 400 };

const event = (route: RouteName, body?: unknown, id?: string) => apiEvent(route, { body, id });

/** A copy of the valid request with `value` at `path` (undefined removes nothing: it sets the key). */
function withField(path: string, value: unknown): Record<string, unknown> {
  const body = structuredClone(VALID) as Record<string, unknown>;
  const [head, tail] = path.split('.');
  if (tail) (body[head] as Record<string, unknown>)[tail] = value;
  else body[head] = value;
  return body;
}

/** A refusal: 400, a code of the vocabulary, a short message; nothing started. */
function expectTypedRefusal(res: { statusCode?: number; body?: string }): void {
  expect(res.statusCode).toBe(400);
  const { error } = JSON.parse(res.body!);
  expect(isErrorCode(error.code)).toBe(true);
  expect(typeof error.message).toBe('string');
  expect(typeof error.hint).toBe('string');
  // The received value is echoed cut short, never whole.
  expect(res.body!.length).toBeLessThan(4_000);
}

beforeEach(() => {
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });
});

describe('no injection through the API', () => {
  it('accepts the valid request the properties start from', async () => {
    const res = await handleApiRequest(event('start', VALID));

    expect(res.statusCode).toBe(202);
  });

  it('POST /sessions: a hostile field is refused typed, or reaches StartExecution only where its pattern accepts it', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...FIELDS), hostileJson(), async (field, value) => {
        sfn.resetHistory();

        const res = await handleApiRequest(event('start', withField(field, value)));

        if (res.statusCode !== 202) {
          expectTypedRefusal(res);
          expect(sfn).not.toHaveReceivedCommand(StartExecutionCommand);
          return;
        }
        accepted++;
        const input = JSON.parse(
          sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!,
        ) as ExecutionInput;
        expect(input.sessionId).toMatch(hostParamRegExp('sessionId'));
        expectHostSafe(input.spec);
      }),
      RUNS,
    );
    // Both sides of the property ran: some odd values are fine (e.g. snaplen 0).
    expect(accepted).toBeGreaterThan(0);
  });

  it('POST /sessions: several hostile fields at once change nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom(...FIELDS), hostileJson(), { minKeys: 2, maxKeys: FIELDS.length }),
        async (fields) => {
          sfn.resetHistory();
          const body = Object.entries(fields).reduce(
            (acc, [path, value]) => {
              const [head, tail] = path.split('.');
              if (tail) (acc[head] as Record<string, unknown>)[tail] = value;
              else acc[head] = value;
              return acc;
            },
            structuredClone(VALID) as Record<string, unknown>,
          );

          const res = await handleApiRequest(event('start', body));

          if (res.statusCode !== 202) return expectTypedRefusal(res);
          const input = JSON.parse(
            sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input!,
          ) as ExecutionInput;
          expectHostSafe(input.spec);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('POST /clusters/{cluster}/doctor (the doctor function): a hostile target is refused typed, or only a parsed task reaches ECS', async () => {
    ecs.on(DescribeTasksCommand).resolves({ tasks: [], failures: [{ reason: 'MISSING' }] });
    ecs.on(DescribeContainerInstancesCommand).resolves({});
    ssm.on(DescribeInstanceInformationCommand).resolves({});
    s3.on(PutObjectCommand).resolves({});
    s3.on(DeleteObjectCommand).resolves({});
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('target.task', 'target.cluster', 'target.container', 'tool'),
        hostileJson(),
        async (field, value) => {
          ecs.resetHistory();
          const body = withField(field, value);

          const res = (await doctorFunction(
            event('doctor', { target: body.target, tool: body.tool }),
          )) as APIGatewayProxyStructuredResultV2;

          if (res.statusCode !== 200) {
            expectTypedRefusal(res);
            expect(ecs).not.toHaveReceivedAnyCommand();
            return;
          }
          const sent = ecs.commandCalls(DescribeTasksCommand)[0].args[0].input;
          expect(() => parseTaskRef(sent.tasks![0], sent.cluster)).not.toThrow();
        },
      ),
      RUNS,
    );
  });

  it('POST /sessions/preview (the plan function): a hostile service target is refused typed, or ECS gets names it takes', async () => {
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('service', 'cluster', 'container', 'maxTasks'),
        hostileJson(),
        async (field, value) => {
          ecs.resetHistory();
          const target: Record<string, unknown> = { service: 'web', cluster: 'prod', [field]: value };

          const res = (await planFunction(
            event('preview', { target, tool: 'tcpdump' }),
          )) as APIGatewayProxyStructuredResultV2;

          const listed = ecs.commandCalls(ListTasksCommand).map((c) => c.args[0].input);
          if (listed.length === 0) return expectTypedRefusal(res);
          for (const input of listed) {
            expect(input.cluster).toMatch(
              /^[A-Za-z0-9_-]{1,255}$|^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster\/[A-Za-z0-9_-]{1,255}$/,
            );
            expect(input.serviceName).toMatch(/^[A-Za-z0-9_-]{1,255}$/);
          }
        },
      ),
      RUNS,
    );
  });

  it.each(['start', 'preview', 'doctor', 'get', 'cancel', 'reupload', 'listCluster'] as const)(
    '%s: a {cluster} that is no cluster name, or a hostile {tool}, is refused typed before any AWS call',
    async (route) => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('cluster', 'tool'), hostileString(), async (param, value) => {
          sfn.resetHistory();
          ecs.resetHistory();
          const e = apiEvent(route, { body: VALID, id: 'dt-20261125123456-a1b2c3' });
          if (param === 'tool' && !e.pathParameters?.tool) return;
          // A well-formed cluster name is a cluster name, whatever it spells: it goes on (and finds nothing).
          if (param === 'cluster' && /^[A-Za-z0-9_-]{1,255}$/.test(value)) return;
          e.pathParameters = { ...e.pathParameters, [param]: value };
          const handle =
            route === 'preview' ? planFunction : route === 'doctor' ? doctorFunction : handleApiRequest;

          const res = (await handle(e)) as APIGatewayProxyStructuredResultV2;

          expectTypedRefusal(res);
          expect(sfn).not.toHaveReceivedAnyCommand();
          expect(ecs).not.toHaveReceivedAnyCommand();
        }),
        RUNS,
      );
    },
  );

  it.each(['get', 'cancel', 'reupload'] as const)(
    '%s: a hostile session id is refused typed before Step Functions is asked',
    async (routeKey) => {
      await fc.assert(
        fc.asyncProperty(hostileString(), async (id) => {
          sfn.resetHistory();

          const res = await handleApiRequest(event(routeKey, undefined, id));

          expectTypedRefusal(res);
          expect(sfn).not.toHaveReceivedCommand(DescribeExecutionCommand);
        }),
        RUNS,
      );
    },
  );

  it('GET /sessions/{id}/reupload/{reuploadId}: a hostile re-upload id is refused typed before Step Functions is asked', async () => {
    await fc.assert(
      // A string that happens to be a well-formed re-upload id (r0) is not hostile: it is looked up.
      fc.asyncProperty(
        hostileString().filter((id) => !/^r[0-9a-z]{1,12}$/.test(id)),
        async (reuploadId) => {
          sfn.resetHistory();
          const e = event('getReupload', undefined, 'dt-20261125123456-a1b2c3');
          e.pathParameters = { ...e.pathParameters, reuploadId };

          const res = await handleApiRequest(e);

          expectTypedRefusal(res);
          expect(sfn).not.toHaveReceivedAnyCommand();
        },
      ),
      RUNS,
    );
  });
});
