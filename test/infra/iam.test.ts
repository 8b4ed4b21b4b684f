import type { HandlerName } from '../../lib/infra/debug-function';
import { ROLE_CHAINING_MAX_SECONDS, URL_EXTRA_SECONDS } from '../../lib/domain/upload';
import {
  HANDLERS,
  functionsByHandler,
  PINNED_IMAGE,
  actionsOf,
  flat,
  resourcesOf,
  resourcesOfType,
  statementsAllowing,
  statementsOfHandler,
  statementsOfRole,
  synth,
  type Statement,
} from './helpers';

const { template } = synth({ toolboxImage: PINNED_IMAGE, allowedClusters: ['prod', 'staging'] });
const { template: anyCluster } = synth({ toolboxImage: PINNED_IMAGE });

const ARN_PREFIX = 'arn:<AWS::Partition>';
const REGION_ACCOUNT = '<AWS::Region>:<AWS::AccountId>';

/** Every action a handler's role may perform (the function's log group aside). */
function actionsOfHandler(handler: HandlerName): string[] {
  return statementsOfHandler(template, handler)
    .flatMap(actionsOf)
    .filter((action) => !action.startsWith('logs:'))
    .sort();
}

const flatResources = (statements: Statement[]) => statements.flatMap(resourcesOf).map(flat).sort();

describe('IAM', () => {
  it('allows no wildcard action anywhere', () => {
    const allowed = Object.values(resourcesOfType(template, 'AWS::IAM::Policy'))
      .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .filter((statement) => statement.Effect === 'Allow')
      .flatMap(actionsOf);

    expect(allowed.length).toBeGreaterThan(0);
    expect(allowed.filter((action) => action.includes('*'))).toEqual([]);
  });

  it.each<[HandlerName, string[]]>([
    ['resolve', ['ecs:DescribeContainerInstances', 'ecs:DescribeTasks', 'ssm:DescribeInstanceInformation']],
    // No s3:PutObject of its own: the upload is signed with a session of the upload role.
    ['launch', ['ssm:SendCommand', 'sts:AssumeRole']],
    ['poll', ['s3:GetObject', 's3:ListBucket', 'ssm:GetCommandInvocation']],
    ['collect', ['s3:GetObject', 's3:ListBucket', 's3:PutObject', 'ssm:GetCommandInvocation']],
    ['cleanup', ['ssm:CancelCommand', 'ssm:SendCommand']],
    [
      'sweeper',
      [
        'ecs:DescribeContainerInstances',
        'ecs:ListContainerInstances',
        'ssm:DescribeInstanceInformation',
        'ssm:SendCommand',
      ],
    ],
    [
      'api',
      [
        // POST /doctor: Resolve's reads, and the doctor/ probe (its own s3:PutObject statement).
        'ecs:DescribeContainerInstances',
        'ecs:DescribeTasks',
        'ssm:DescribeInstanceInformation',
        's3:PutObject',
        's3:DeleteObject',
        's3:GetObject',
        's3:PutObject',
        // POST/GET /sessions/{id}/reupload: launch's SendCommand, the command's status, the upload
        // role, and HeadObject of the re-uploaded artifact (ListBucket: a missing one is a 404).
        'ssm:SendCommand',
        'ssm:GetCommandInvocation',
        'sts:AssumeRole',
        's3:ListBucket',
        'states:DescribeExecution',
        'states:GetExecutionHistory',
        'states:ListExecutions',
        'states:StartExecution',
        'states:StopExecution',
      ],
    ],
  ])('gives %s exactly the actions its step calls', (handler, actions) => {
    expect(actionsOfHandler(handler)).toEqual([...actions].sort());
  });

  it.each(HANDLERS)('lets %s write only to its own log group', (handler) => {
    const logStatements = statementsOfHandler(template, handler).filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('logs:')),
    );

    expect(logStatements.flatMap(actionsOf).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    expect(flatResources(logStatements)).toEqual([
      expect.stringMatching(new RegExp(`^<${handler}Logs[0-9A-F]{8}\\.Arn>$`)),
    ]);
  });

  it.each<HandlerName>(['launch', 'cleanup', 'sweeper', 'api'])(
    'scopes SendCommand of %s to our document and to EC2 and ECS Anywhere instances',
    (handler) => {
      const resources = flatResources(statementsAllowing(template, handler, 'ssm:SendCommand'));

      expect(resources).toHaveLength(3);
      expect(resources).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            new RegExp(`^${ARN_PREFIX}:ssm:${REGION_ACCOUNT}:document/<RunnerDocument[0-9A-F]{8}>$`),
          ),
          `${ARN_PREFIX}:ec2:${REGION_ACCOUNT}:instance/*`,
          `${ARN_PREFIX}:ssm:${REGION_ACCOUNT}:managed-instance/*`,
        ]),
      );
    },
  );

  it('never allows SendCommand on every document', () => {
    for (const handler of HANDLERS) {
      const resources = flatResources(statementsAllowing(template, handler, 'ssm:SendCommand'));
      expect(resources).not.toContain('*');
      expect(resources.filter((resource) => resource.includes(':document/*'))).toEqual([]);
    }
  });

  it('limits resolve to the allowed clusters with the ecs:cluster condition', () => {
    const [statement] = statementsAllowing(template, 'resolve', 'ecs:DescribeTasks');

    expect(actionsOf(statement).sort()).toEqual(['ecs:DescribeContainerInstances', 'ecs:DescribeTasks']);
    expect(flatResources([statement])).toEqual(
      [
        `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:container-instance/*`,
        `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:task/*`,
      ].sort(),
    );
    expect(statement.Condition?.ArnEquals?.['ecs:cluster']).toBeDefined();
    expect((statement.Condition?.ArnEquals['ecs:cluster'] as unknown[]).map(flat).sort()).toEqual([
      `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:cluster/prod`,
      `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:cluster/staging`,
    ]);
  });

  it('lets resolve read any cluster of the account and region when no cluster is configured', () => {
    const [statement] = statementsAllowing(anyCluster, 'resolve', 'ecs:DescribeTasks');

    expect(statement.Condition).toBeUndefined();
    expect(flatResources([statement])).not.toContain('*');
  });

  it('limits the sweeper to listing the allowed clusters, by ARN', () => {
    expect(flatResources(statementsAllowing(template, 'sweeper', 'ecs:ListContainerInstances'))).toEqual([
      `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:cluster/prod`,
      `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:cluster/staging`,
    ]);
    expect(statementsAllowing(template, 'sweeper', 'ecs:ListClusters')).toEqual([]);
  });

  it("limits the sweeper's DescribeContainerInstances to the allowed clusters with the ecs:cluster condition", () => {
    const [statement] = statementsAllowing(template, 'sweeper', 'ecs:DescribeContainerInstances');

    expect(actionsOf(statement)).toEqual(['ecs:DescribeContainerInstances']);
    expect(flatResources([statement])).toEqual([`${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:container-instance/*`]);
    expect((statement.Condition?.ArnEquals?.['ecs:cluster'] as unknown[]).map(flat).sort()).toEqual([
      `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:cluster/prod`,
      `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:cluster/staging`,
    ]);
  });

  it('lets the sweeper list every cluster of the account and region when no cluster is configured', () => {
    const actions = statementsOfHandler(anyCluster, 'sweeper')
      .flatMap(actionsOf)
      .filter((action) => !action.startsWith('logs:'));

    expect(actions.sort()).toEqual(
      [
        'ecs:DescribeContainerInstances',
        'ecs:ListClusters',
        'ecs:ListContainerInstances',
        'ssm:DescribeInstanceInformation',
        'ssm:SendCommand',
      ].sort(),
    );
    expect(flatResources(statementsAllowing(anyCluster, 'sweeper', 'ecs:ListClusters'))).toEqual(['*']);
    expect(flatResources(statementsAllowing(anyCluster, 'sweeper', 'ecs:ListContainerInstances'))).toEqual([
      `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:cluster/*`,
    ]);
    const [describe] = statementsAllowing(anyCluster, 'sweeper', 'ecs:DescribeContainerInstances');
    expect(describe.Condition).toBeUndefined();
    expect(flatResources([describe])).toEqual([`${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:container-instance/*`]);
  });

  it.each<[HandlerName, string]>([
    ['poll', 's3:GetObject'],
    ['collect', 's3:GetObject'],
    ['collect', 's3:PutObject'],
    ['api', 's3:GetObject'],
  ])('limits %s %s to objects under sessions/', (handler, action) => {
    expect(flatResources(statementsAllowing(template, handler, action))).toEqual([
      expect.stringMatching(/^<Artifacts[0-9A-F]{8}\.Arn>\/sessions\/\*$/),
    ]);
  });

  it('limits api writes to sessions/ (cancel markers) and doctor/ (the probe it deletes at once)', () => {
    expect(flatResources(statementsAllowing(template, 'api', 's3:PutObject'))).toEqual([
      expect.stringMatching(/^<Artifacts[0-9A-F]{8}\.Arn>\/doctor\/\*$/),
      expect.stringMatching(/^<Artifacts[0-9A-F]{8}\.Arn>\/sessions\/\*$/),
    ]);
    expect(flatResources(statementsAllowing(template, 'api', 's3:DeleteObject'))).toEqual([
      expect.stringMatching(/^<Artifacts[0-9A-F]{8}\.Arn>\/doctor\/\*$/),
    ]);
  });

  it.each([
    ['with allowed clusters', template],
    ['without', anyCluster],
  ])("gives api resolve's own ECS read statement for POST /doctor (%s)", (_, stack) => {
    const [resolveReads] = statementsAllowing(stack, 'resolve', 'ecs:DescribeTasks');
    const [apiReads] = statementsAllowing(stack, 'api', 'ecs:DescribeTasks');

    expect(apiReads).toEqual(resolveReads);
  });

  it.each<HandlerName>(['poll', 'collect', 'api'])('lets %s list the sessions/ prefix only', (handler) => {
    const [statement] = statementsAllowing(template, handler, 's3:ListBucket');

    expect(statement.Condition).toEqual({ StringLike: { 's3:prefix': ['sessions/*'] } });
  });

  it('lets api start and list executions of its state machine and read or stop only its executions', () => {
    const stateMachine = /^<Sessions[0-9A-F]{8}>$/;

    expect(flatResources(statementsAllowing(template, 'api', 'states:StartExecution'))).toEqual([
      expect.stringMatching(stateMachine),
    ]);
    expect(flatResources(statementsAllowing(template, 'api', 'states:ListExecutions'))).toEqual([
      expect.stringMatching(stateMachine),
    ]);
    for (const action of ['states:DescribeExecution', 'states:StopExecution', 'states:GetExecutionHistory']) {
      expect(flatResources(statementsAllowing(template, 'api', action))).toEqual([
        expect.stringMatching(
          new RegExp(`^${ARN_PREFIX}:states:${REGION_ACCOUNT}:execution:<Sessions[0-9A-F]{8}\\.Name>:\\*$`),
        ),
      ]);
    }
  });

  it('grants "*" only to the SSM calls whose resources exist only at run time', () => {
    const onEverything = HANDLERS.flatMap((handler) =>
      statementsOfHandler(template, handler).filter((statement) => resourcesOf(statement).includes('*')),
    ).flatMap(actionsOf);

    expect([...new Set(onEverything)].sort()).toEqual(
      ['ssm:CancelCommand', 'ssm:DescribeInstanceInformation', 'ssm:GetCommandInvocation'].sort(),
    );
  });

  it('adds only ecs:ListClusters, which has no resource-level permission, on "*" when no cluster is configured', () => {
    const onEverything = HANDLERS.flatMap((handler) =>
      statementsOfHandler(anyCluster, handler).filter((statement) => resourcesOf(statement).includes('*')),
    ).flatMap(actionsOf);

    expect([...new Set(onEverything)].sort()).toEqual(
      [
        'ecs:ListClusters',
        'ssm:CancelCommand',
        'ssm:DescribeInstanceInformation',
        'ssm:GetCommandInvocation',
      ].sort(),
    );
  });

  it('allows no wildcard action when no cluster is configured either', () => {
    const allowed = Object.values(resourcesOfType(anyCluster, 'AWS::IAM::Policy'))
      .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement)
      .filter((statement) => statement.Effect === 'Allow')
      .flatMap(actionsOf);

    expect(allowed.filter((action) => action.includes('*'))).toEqual([]);
  });

  describe("the upload role (signs the hosts' presigned uploads)", () => {
    const uploadRoles = (stack: typeof template) =>
      Object.entries(resourcesOfType(stack, 'AWS::IAM::Role')).filter(([id]) =>
        /^UploadRole[0-9A-F]{8}$/.test(id),
      );
    const [[uploadRoleId, uploadRole]] = uploadRoles(template);
    const launchRoleId = () => {
      const role = functionsByHandler(template).launch.resource.Properties.Role as { 'Fn::GetAtt': [string] };
      return role['Fn::GetAtt'][0];
    };

    it('is one role', () => {
      expect(uploadRoles(template)).toHaveLength(1);
      expect(uploadRoles(anyCluster)).toHaveLength(1);
    });

    const apiRoleId = () => {
      const role = functionsByHandler(template).api.resource.Properties.Role as { 'Fn::GetAtt': [string] };
      return role['Fn::GetAtt'][0];
    };

    it("is trusted by the launch and api functions' roles only, for sts:AssumeRole only (no session tags)", () => {
      const trust = uploadRole.Properties.AssumeRolePolicyDocument as { Statement: Statement[] };
      const statements = trust.Statement as Array<Statement & { Principal: Record<string, unknown> }>;

      expect(statements).toHaveLength(1);
      expect(statements[0].Effect).toBe('Allow');
      expect(actionsOf(statements[0])).toEqual(['sts:AssumeRole']);
      expect(statements[0].Condition).toBeUndefined();
      expect(Object.keys(statements[0].Principal)).toEqual(['AWS']);
      expect([statements[0].Principal.AWS].flat().map(flat).sort()).toEqual(
        [`<${launchRoleId()}.Arn>`, `<${apiRoleId()}.Arn>`].sort(),
      );
    });

    it('may only put objects under sessions/ (one statement, one action, no condition to widen it)', () => {
      const statements = statementsOfRole(template, uploadRoleId);

      expect(statements).toHaveLength(1);
      expect(statements[0].Effect).toBe('Allow');
      expect(actionsOf(statements[0])).toEqual(['s3:PutObject']);
      expect(flatResources(statements)).toEqual([
        expect.stringMatching(/^<Artifacts[0-9A-F]{8}\.Arn>\/sessions\/\*$/),
      ]);
      expect(uploadRole.Properties.ManagedPolicyArns).toBeUndefined();
      expect(uploadRole.Properties.Policies).toBeUndefined();
    });

    it('is what launch and api (re-upload) may assume, and nothing else', () => {
      for (const handler of ['launch', 'api'] as const) {
        expect(flatResources(statementsAllowing(template, handler, 'sts:AssumeRole'))).toEqual([
          `<${uploadRoleId}.Arn>`,
        ]);
      }
      for (const handler of HANDLERS.filter((h) => h !== 'launch' && h !== 'api')) {
        expect(statementsAllowing(template, handler, 'sts:AssumeRole')).toEqual([]);
      }
    });

    it('leaves launch no s3 permission of its own (a URL it signed itself would carry all of sessions/*)', () => {
      expect(actionsOfHandler('launch').filter((action) => action.startsWith('s3:'))).toEqual([]);
    });

    it('lasts at least as long as any session asks for (≥ 1 h, the role-chaining cap Launch requests up to)', () => {
      const seconds = uploadRole.Properties.MaxSessionDuration as number;

      expect(seconds).toBeGreaterThanOrEqual(ROLE_CHAINING_MAX_SECONDS);
      expect(seconds).toBeGreaterThanOrEqual(900 + 30 + URL_EXTRA_SECONDS);
      expect(seconds).toBeLessThanOrEqual(43_200);
    });

    it("grows its maximum session with maxDurationSeconds + graceSeconds, up to IAM's 12 hours", () => {
      const maxOf = (props: Parameters<typeof synth>[0]) =>
        uploadRoles(synth(props).template)[0][1].Properties.MaxSessionDuration;

      expect(maxOf({ toolboxImage: PINNED_IMAGE, maxDurationSeconds: 7200, graceSeconds: 600 })).toBe(
        7200 + 600 + URL_EXTRA_SECONDS,
      );
      expect(maxOf({ toolboxImage: PINNED_IMAGE, maxDurationSeconds: 90_000 })).toBe(43_200);
    });
  });
});
