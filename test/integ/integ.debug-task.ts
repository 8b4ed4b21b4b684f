/**
 * debug-task on a real AWS account, in the CDK ecosystem's convention (integ-tests-alpha run by
 * integ-runner). Run it with `npm run test:aws` (deploys, asserts, destroys; it asks first).
 *
 * Stacks: DebugTaskInteg (the DebugTask stack, allowed on the testbed's cluster only),
 * DebugTaskIntegTestbed (lib/testbed: one ECS instance, a demo service of 2 tasks, a Fargate task)
 * and DebugTaskIntegProbe (a function that uses the API with SigV4 through the typed client, as a
 * user's code would: test/integ/probe). The assertions, in order (one session on the host at a time):
 *
 *   1. a tcpdump session next to one demo task SUCCEEDS; its artifact's sha256 matches the manifest
 *      (object and content), the pcap has packets, the session and the audit log (session.requested)
 *      name the caller, the audit log's session.ended holds the artifact's sha256, and no toolbox
 *      container is left on the instance;
 *   2. a second principal of the account (the probe stack's role Other, which IAM lets invoke the
 *      API) does not find that session (SESSION_NOT_FOUND), is refused its status and its cancel
 *      (NOT_AUTHORIZED), and both denials are in the audit log, naming it;
 *   3. a session on the Fargate task is refused with FARGATE_UNSUPPORTED;
 *   4. a service-wide session captures every running task of the demo service (each artifact
 *      verified), and leaves no toolbox container.
 *
 * Offline, CI compares this app's synthesized templates with the committed snapshot
 * (integ.debug-task.ts.snapshot/): `npm run integ:check`; after a template change,
 * `npm run integ:snapshot` writes the new snapshot (no deploy, no credentials).
 */
import { ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { acknowledgeDebugTaskGuardFindings, acknowledgeGuard, guardValidator } from '../../lib/checks/guard';
import { DebugTaskStack } from '../../lib/infra/debug-task-stack';
import { DEMO_SERVICE_NAME, TestbedStack } from '../../lib/testbed/testbed-stack';
import { cdkJsonContext, INTEG_NAMES } from './integ-config';
import { ProbeStack } from './probe-stack';
import type { ProbeEvent } from './probe/probe';

// The feature flags of cdk.json win over any the runner passes, so that the stacks are synthesized
// exactly as `cdk deploy` of bin/app.ts would synthesize them. The probe reads the testbed's names
// through cross-stack references: strong ones (the stacks are deployed and destroyed together).
const app = new App({
  postCliContext: { ...cdkJsonContext(), '@aws-cdk/core:defaultCrossStackReferences': 'strong' },
  analyticsReporting: false,
});
Validations.of(app).addPlugins(guardValidator());

const debugTask = new DebugTaskStack(app, INTEG_NAMES.debugTaskStack, {
  description: 'debug-task integration test: the stack under test',
  allowedClusters: [INTEG_NAMES.cluster],
  // A trigger's rule, target, permission and dead-letter queue, deployed for real; it listens for an
  // event source nothing emits, so it never fires during the test.
  triggers: [
    {
      name: 'integ-keep-ring',
      action: 'stop',
      target: { cluster: INTEG_NAMES.cluster, service: DEMO_SERVICE_NAME },
      on: { pattern: { source: ['debug-task.integ'], 'detail-type': ['Keep the ring'] } },
    },
  ],
});
acknowledgeDebugTaskGuardFindings(debugTask);
const testbed = new TestbedStack(app, INTEG_NAMES.testbedStack, {
  description: 'debug-task integration test: the testbed',
  clusterName: INTEG_NAMES.cluster,
});
const probeStack = new ProbeStack(app, INTEG_NAMES.probeStack, {
  description: 'debug-task integration test: the probe',
  debugTaskStackName: debugTask.stackName,
  auditLogGroup: debugTask.auditLogGroup,
  testbed,
});

const integ = new IntegTest(app, 'DebugTaskOnAws', {
  testCases: [debugTask, testbed, probeStack],
  // A new deploy each run: the update workflow would first deploy the previous snapshot, and its
  // bundled assets would have to be committed.
  stackUpdateWorkflow: false,
  cdkCommandOptions: { destroy: { args: { force: true } } },
});

const probe = (event: ProbeEvent) =>
  integ.assertions.invokeFunction({
    functionName: probeStack.probe.functionName,
    payload: Stack.of(probeStack).toJsonString(event),
  });
/** The probe's verdict (its JSON payload) has at least these fields with these values. */
const verdict = (fields: Record<string, unknown>) =>
  ExpectedResult.objectLike({ Payload: Match.serializedJson(Match.objectLike(fields)) });
/** A session's check is asked again every 15 s until it matches, for 10 minutes at most. */
const untilDone = { totalTimeout: Duration.minutes(10), interval: Duration.seconds(15) };

const taskSession = probe({ action: 'start-task' });
const taskChecked = probe({ action: 'check-task', sessionId: taskSession.getAttString('Payload.sessionId') })
  .expect(
    verdict({
      status: 'SUCCEEDED',
      sha256Matches: true,
      hasPackets: true,
      callerNamed: true,
      endAudited: true,
      containersLeft: 0,
    }),
  )
  .waitForAssertions(untilDone);
const otherRefused = probe({
  action: 'refuse-other',
  sessionId: taskSession.getAttString('Payload.sessionId'),
})
  .expect(
    verdict({
      lookup: 'SESSION_NOT_FOUND',
      read: 'NOT_AUTHORIZED',
      cancel: 'NOT_AUTHORIZED',
      denialsAudited: true,
    }),
  )
  // The denials reach the audit log within seconds: asked again until they are there.
  .waitForAssertions({ totalTimeout: Duration.minutes(3), interval: Duration.seconds(15) });
const fargateRefused = probe({ action: 'refuse-fargate' }).expect(verdict({ code: 'FARGATE_UNSUPPORTED' }));
const serviceSession = probe({ action: 'start-service' });
const serviceChecked = probe({
  action: 'check-service',
  sessionId: serviceSession.getAttString('Payload.sessionId'),
})
  .expect(
    verdict({ status: 'SUCCEEDED', everyTaskCaptured: true, everyArtifactVerified: true, containersLeft: 0 }),
  )
  .waitForAssertions(untilDone);

taskSession
  .next(taskChecked)
  .next(otherRefused)
  .next(fargateRefused)
  .next(serviceSession)
  .next(serviceChecked);

acknowledgeGuard(
  Stack.of(taskSession),
  "integ-tests-alpha's own assertion functions and waiter state machines, deployed for one test run " +
    'and destroyed with it: no VPC, logs or tracing of their own.',
  'lambda_inside_vpc_check',
  'step_functions_state_machine_logging_enabled_check',
  'step_functions_state_machine_tracing_enabled_check',
);

app.synth();
