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

/** A statement's Condition with every value flattened (and each key's values sorted). */
const flatCondition = (condition: Statement['Condition']) =>
  condition === undefined
    ? undefined
    : Object.fromEntries(
        Object.entries(condition).map(([operator, keys]) => [
          operator,
          Object.fromEntries(
            Object.entries(keys).map(([key, values]) => [key, [values].flat().map(flat).sort()]),
          ),
        ]),
      );

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
    // Plan (and preview): the resolvers' reads, the plan it writes, a re-upload's record it reads.
    [
      'plan',
      [
        'ecs:DescribeContainerInstances',
        'ecs:DescribeTasks',
        'ecs:ListTasks',
        'ssm:DescribeInstanceInformation',
        's3:GetObject',
        's3:PutObject',
      ],
    ],
    // The doctors: a named task's checks (no ListTasks), and for doctor --stack the pinned document,
    // the toolbox image, the clusters' container instances; the doctor/ probe, written and deleted.
    // No session object: it reads and writes nothing under sessions/.
    [
      'doctor',
      [
        'ecs:DescribeContainerInstances',
        'ecs:DescribeTasks',
        'ssm:DescribeInstanceInformation',
        'ssm:DescribeDocument',
        'ecr:DescribeImages',
        'ecs:ListContainerInstances',
        's3:PutObject',
        's3:DeleteObject',
      ],
    ],
    // Launch: reads the plan, writes its batch's host plan (and presigns its GET with its own
    // credentials), assumes the upload role to sign the children's uploads, sends the runner (two
    // SendCommand statements: the document; tagged instances) with a presigned GET of the runner file.
    [
      'launch',
      [
        's3:GetObject',
        's3:GetObject',
        's3:PutObject',
        'ssm:SendCommand',
        'ssm:SendCommand',
        'sts:AssumeRole',
      ],
    ],
    // Poll: HeadObject of the cancel and stop markers (s3:GetObject, s3:ListBucket for a 404),
    // ListCommandInvocations, CancelCommand past the deadline, GetCommandInvocation per host, PutObject
    // of the batch's outcomes; on a stop, action=stop to the batch's hosts (two SendCommand statements
    // and the runner file, as every sender).
    [
      'poll',
      [
        's3:GetObject',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
        'ssm:CancelCommand',
        'ssm:GetCommandInvocation',
        'ssm:ListCommandInvocations',
        'ssm:SendCommand',
        'ssm:SendCommand',
      ],
    ],
    // Collect: the plan, the outcomes and the manifests, ListObjectsV2 of children/, the record.
    ['collect', ['s3:GetObject', 's3:ListBucket', 's3:PutObject']],
    // Cleanup: action=cleanup to every host of the plan, whether the hosts ran it, and the record
    // of a session that ended early.
    [
      'cleanup',
      [
        's3:GetObject',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
        'ssm:ListCommandInvocations',
        'ssm:SendCommand',
        'ssm:SendCommand',
      ],
    ],
    [
      'sweeper',
      [
        'ecs:DescribeContainerInstances',
        'ecs:ListContainerInstances',
        's3:GetObject',
        'ssm:DescribeInstanceInformation',
        'ssm:SendCommand',
        'ssm:SendCommand',
      ],
    ],
    // The api starts and reads executions (a re-upload is one too), reads records, presigns
    // downloads, writes cancel markers: no ECS, no SSM, no STS.
    [
      'api',
      [
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
        'states:DescribeExecution',
        'states:GetExecutionHistory',
        'states:ListExecutions',
        'states:StartExecution',
      ],
    ],
  ])('gives %s exactly the actions its step calls', (handler, actions) => {
    expect(actionsOfHandler(handler)).toEqual([...actions].sort());
  });

  it('lets only launch, poll (a stop), cleanup and the sweeper send a command to a host', () => {
    const senders = HANDLERS.filter(
      (handler) => statementsAllowing(template, handler, 'ssm:SendCommand').length > 0,
    );

    expect(senders.sort()).toEqual(['cleanup', 'launch', 'poll', 'sweeper']);
  });

  const AUDIT_WRITERS: readonly HandlerName[] = ['api', 'plan', 'doctor', 'launch', 'collect', 'cleanup'];

  it.each(HANDLERS)('lets %s write only to its own log group, and the audit log if it emits', (handler) => {
    const logStatements = statementsOfHandler(template, handler).filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('logs:')),
    );

    expect([...new Set(logStatements.flatMap(actionsOf))].sort()).toEqual([
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
    // Logical ids keep only the alphanumerics of the construct id: launch -> launchLogs...
    const logicalPrefix = handler.replace(/[^A-Za-z0-9]/g, '');
    const own = expect.stringMatching(new RegExp(`^<${logicalPrefix}Logs[0-9A-F]{8}\\.Arn>$`));
    const audit = expect.stringMatching(/^<Audit[0-9A-F]{8}\.Arn>$/);
    expect(flatResources(logStatements).sort()).toEqual(
      AUDIT_WRITERS.includes(handler) ? [audit, own] : [own],
    );
  });

  it.each<HandlerName>(['launch', 'cleanup', 'sweeper'])(
    'scopes SendCommand of %s to our document and to EC2 instances (never ECS Anywhere managed instances)',
    (handler) => {
      const resources = flatResources(statementsAllowing(template, handler, 'ssm:SendCommand'));

      expect(resources).toHaveLength(2);
      expect(resources).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            new RegExp(`^${ARN_PREFIX}:ssm:${REGION_ACCOUNT}:document/<RunnerDocument[0-9A-F]{8}>$`),
          ),
          `${ARN_PREFIX}:ec2:${REGION_ACCOUNT}:instance/*`,
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
        's3:GetObject',
        'ssm:DescribeInstanceInformation',
        'ssm:SendCommand',
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
    ['plan', 's3:GetObject'],
    ['launch', 's3:GetObject'],
    ['launch', 's3:PutObject'],
    ['poll', 's3:GetObject'],
    ['poll', 's3:PutObject'],
    ['collect', 's3:GetObject'],
    ['collect', 's3:PutObject'],
    ['cleanup', 's3:GetObject'],
    ['cleanup', 's3:PutObject'],
    ['api', 's3:GetObject'],
    ['api', 's3:PutObject'],
  ])('limits %s %s to objects under sessions/ (and the senders to the runner file)', (handler, action) => {
    const runner = (r: string) => r.includes('cdk-hnb659fds-assets-');
    const resources = flatResources(statementsAllowing(template, handler, action));
    expect(resources.filter((r) => !runner(r))).toEqual([
      expect.stringMatching(/^<Artifacts[0-9A-F]{8}\.Arn>\/sessions\/\*$/),
    ]);
    const sends = ['launch', 'poll', 'cleanup', 'sweeper'].includes(handler) && action === 's3:GetObject';
    expect(resources.filter(runner)).toHaveLength(sends ? 1 : 0);
  });

  it('limits the doctor to the doctor/ probe it writes and deletes at once, and plan to sessions/', () => {
    const doctorProbe = expect.stringMatching(/^<Artifacts[0-9A-F]{8}\.Arn>\/doctor\/\*$/);
    expect(flatResources(statementsAllowing(template, 'doctor', 's3:PutObject'))).toEqual([doctorProbe]);
    expect(flatResources(statementsAllowing(template, 'doctor', 's3:DeleteObject'))).toEqual([doctorProbe]);
    expect(statementsAllowing(template, 'doctor', 's3:GetObject')).toEqual([]);
    expect(flatResources(statementsAllowing(template, 'plan', 's3:PutObject'))).toEqual([
      expect.stringMatching(/^<Artifacts[0-9A-F]{8}\.Arn>\/sessions\/\*$/),
    ]);
    for (const handler of HANDLERS.filter((h) => h !== 'doctor')) {
      const probe = [
        ...statementsAllowing(template, handler, 's3:PutObject'),
        ...statementsAllowing(template, handler, 's3:DeleteObject'),
      ];
      expect([handler, flatResources(probe).filter((r) => r.includes('/doctor/'))]).toEqual([handler, []]);
    }
  });

  it('lets no function delete what a session wrote', () => {
    for (const handler of HANDLERS) {
      const resources = flatResources(statementsAllowing(template, handler, 's3:DeleteObject'));
      expect([handler, resources.filter((r) => r.includes('/sessions/'))]).toEqual([handler, []]);
    }
  });

  const ecsArn = (resource: string) => `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:${resource}`;
  describe.each([
    [
      'with allowed clusters',
      template,
      ['cluster/prod', 'cluster/staging'],
      { ArnEquals: { 'ecs:cluster': [ecsArn('cluster/prod'), ecsArn('cluster/staging')] } },
    ],
    ['without', anyCluster, ['cluster/*'], undefined],
  ])('the resolvers’ reads (%s)', (_, stack, clusterResources, condition) => {
    const readsOf = (handler: HandlerName) => {
      const statements = statementsAllowing(stack, handler, 'ecs:ListTasks');
      // One statement holds all three reads: none of them is granted anywhere else to this role.
      expect(statements).toHaveLength(1);
      expect(statementsAllowing(stack, handler, 'ecs:DescribeTasks')).toEqual(statements);
      expect(statementsAllowing(stack, handler, 'ecs:DescribeContainerInstances')).toEqual(statements);
      return statements[0];
    };

    it('are ListTasks, DescribeTasks and DescribeContainerInstances on tasks, container instances and the clusters', () => {
      const statement = readsOf('plan');

      expect(statement.Effect).toBe('Allow');
      expect(actionsOf(statement).sort()).toEqual([
        'ecs:DescribeContainerInstances',
        'ecs:DescribeTasks',
        'ecs:ListTasks',
      ]);
      expect(flatResources([statement])).toEqual(
        [ecsArn('task/*'), ecsArn('container-instance/*'), ...clusterResources.map(ecsArn)].sort(),
      );
      expect(flatCondition(statement.Condition)).toEqual(condition);
    });

    it('are granted to plan (preview runs in it) and, but ListTasks, to the doctor: no other function reads ECS tasks', () => {
      for (const handler of HANDLERS.filter((h) => h !== 'plan')) {
        expect([handler, statementsAllowing(stack, handler, 'ecs:ListTasks')]).toEqual([handler, []]);
      }
      for (const handler of HANDLERS.filter((h) => h !== 'plan' && h !== 'doctor')) {
        expect([handler, statementsAllowing(stack, handler, 'ecs:DescribeTasks')]).toEqual([handler, []]);
      }
    });

    it("are, for a task's doctor, DescribeTasks and DescribeContainerInstances on tasks and container instances of the same clusters", () => {
      const statements = statementsAllowing(stack, 'doctor', 'ecs:DescribeTasks');

      expect(statements).toHaveLength(1);
      expect(actionsOf(statements[0]).sort()).toEqual([
        'ecs:DescribeContainerInstances',
        'ecs:DescribeTasks',
      ]);
      expect(statementsAllowing(stack, 'doctor', 'ecs:DescribeContainerInstances')).toEqual(statements);
      expect(flatResources(statements)).toEqual([ecsArn('container-instance/*'), ecsArn('task/*')]);
      expect(flatCondition(statements[0].Condition)).toEqual(condition);
    });
  });

  describe('doctor --stack (the doctor function reads the deployment it belongs to)', () => {
    const documentArn = (stack: typeof template) => {
      const [statement] = statementsAllowing(stack, 'launch', 'ssm:SendCommand').filter((s) =>
        flatResources([s]).some((r) => r.includes(':document/')),
      );
      return flatResources([statement]);
    };

    it('describes only our document, and only the doctor may', () => {
      const statements = statementsAllowing(template, 'doctor', 'ssm:DescribeDocument');

      expect(statements).toHaveLength(1);
      expect(actionsOf(statements[0])).toEqual(['ssm:DescribeDocument']);
      expect(flatResources(statements)).toEqual(documentArn(template));
      for (const handler of HANDLERS.filter((h) => h !== 'doctor')) {
        expect([handler, statementsAllowing(template, handler, 'ssm:DescribeDocument')]).toEqual([
          handler,
          [],
        ]);
      }
    });

    it("looks the toolbox image up in its one ECR repository, and in none when the image is not in this stack's ECR", () => {
      const { template: elsewhere } = synth({
        toolboxImage: `ghcr.io/example/toolbox@sha256:${'cd'.repeat(32)}`,
      });

      expect(flatResources(statementsAllowing(template, 'doctor', 'ecr:DescribeImages'))).toEqual([
        `${ARN_PREFIX}:ecr:${REGION_ACCOUNT}:repository/debug-task-toolbox`,
      ]);
      expect(statementsAllowing(elsewhere, 'doctor', 'ecr:DescribeImages')).toEqual([]);
      for (const handler of HANDLERS.filter((h) => h !== 'doctor')) {
        expect([handler, statementsAllowing(template, handler, 'ecr:DescribeImages')]).toEqual([handler, []]);
      }
    });

    it('lists the container instances of the allowed clusters only (of any cluster when none is set)', () => {
      const ecsArn = (resource: string) => `${ARN_PREFIX}:ecs:${REGION_ACCOUNT}:${resource}`;
      const listing = (stack: typeof template) => {
        const statements = statementsAllowing(stack, 'doctor', 'ecs:ListContainerInstances');
        expect(statements).toHaveLength(1);
        expect(actionsOf(statements[0])).toEqual(['ecs:ListContainerInstances']);
        return flatResources(statements);
      };

      expect(listing(template)).toEqual([ecsArn('cluster/prod'), ecsArn('cluster/staging')]);
      expect(listing(anyCluster)).toEqual([ecsArn('cluster/*')]);
      // The sweeper lists them too (to sweep); plan never does.
      expect(statementsAllowing(template, 'plan', 'ecs:ListContainerInstances')).toEqual([]);
      expect(statementsAllowing(anyCluster, 'plan', 'ecs:ListContainerInstances')).toEqual([]);
    });
  });

  it.each<HandlerName>(['poll', 'collect', 'cleanup', 'api'])(
    'lets %s list the sessions/ prefix only',
    (handler) => {
      const statements = statementsAllowing(template, handler, 's3:ListBucket');

      expect(statements).toHaveLength(1);
      expect(actionsOf(statements[0])).toEqual(['s3:ListBucket']);
      expect(flatResources(statements)).toEqual([expect.stringMatching(/^<Artifacts[0-9A-F]{8}\.Arn>$/)]);
      expect(statements[0].Condition).toEqual({ StringLike: { 's3:prefix': ['sessions/*'] } });
    },
  );

  it('lets api start and list executions of its state machine and read only its executions, stop none', () => {
    const stateMachine = /^<Sessions[0-9A-F]{8}>$/;

    expect(flatResources(statementsAllowing(template, 'api', 'states:StartExecution'))).toEqual([
      expect.stringMatching(stateMachine),
    ]);
    expect(flatResources(statementsAllowing(template, 'api', 'states:ListExecutions'))).toEqual([
      expect.stringMatching(stateMachine),
    ]);
    expect(statementsAllowing(template, 'api', 'states:StopExecution')).toEqual([]);
    for (const action of ['states:DescribeExecution', 'states:GetExecutionHistory']) {
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
      [
        'ssm:CancelCommand',
        'ssm:DescribeInstanceInformation',
        'ssm:GetCommandInvocation',
        'ssm:ListCommandInvocations',
      ].sort(),
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
        'ssm:ListCommandInvocations',
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
    const roleIdOf = (handler: HandlerName) => {
      const role = functionsByHandler(template)[handler].resource.Properties.Role as {
        'Fn::GetAtt': [string];
      };
      return role['Fn::GetAtt'][0];
    };

    it('is one role', () => {
      expect(uploadRoles(template)).toHaveLength(1);
      expect(uploadRoles(anyCluster)).toHaveLength(1);
    });

    it("is trusted by the launch function's role only (a re-upload is an execution too), for sts:AssumeRole only (no session tags)", () => {
      const trust = uploadRole.Properties.AssumeRolePolicyDocument as { Statement: Statement[] };
      const statements = trust.Statement as Array<Statement & { Principal: Record<string, unknown> }>;

      for (const statement of statements) {
        expect(statement.Effect).toBe('Allow');
        expect(actionsOf(statement)).toEqual(['sts:AssumeRole']);
        expect(statement.Condition).toBeUndefined();
        expect(Object.keys(statement.Principal)).toEqual(['AWS']);
      }
      expect(statements.flatMap((statement) => [statement.Principal.AWS].flat().map(flat)).sort()).toEqual([
        `<${roleIdOf('launch')}.Arn>`,
      ]);
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

    it('is what launch may assume, and nothing else', () => {
      const statements = statementsAllowing(template, 'launch', 'sts:AssumeRole');

      expect(statements).toHaveLength(1);
      expect(actionsOf(statements[0])).toEqual(['sts:AssumeRole']);
      expect(statements[0].Condition).toBeUndefined();
      expect(flatResources(statements)).toEqual([`<${uploadRoleId}.Arn>`]);
    });

    it('may be assumed by no other function', () => {
      for (const handler of HANDLERS.filter((h) => h !== 'launch')) {
        expect([handler, statementsAllowing(template, handler, 'sts:AssumeRole')]).toEqual([handler, []]);
        expect([handler, statementsAllowing(anyCluster, handler, 'sts:AssumeRole')]).toEqual([handler, []]);
      }
    });

    it('lasts at least as long as any session asks for (≥ 1 h, the role-chaining cap Launch requests up to)', () => {
      const seconds = uploadRole.Properties.MaxSessionDuration as number;

      expect(seconds).toBeGreaterThanOrEqual(ROLE_CHAINING_MAX_SECONDS);
      expect(seconds).toBeGreaterThanOrEqual(900 + 30 + URL_EXTRA_SECONDS);
      expect(seconds).toBeLessThanOrEqual(43_200);
    });

    it('grows its maximum session with the longest capture (maxRingSeconds here) + graceSeconds', () => {
      const maxOf = (props: Parameters<typeof synth>[0]) =>
        uploadRoles(synth(props).template)[0][1].Properties.MaxSessionDuration;

      // Never under IAM's hour; the longest capture + grace + the URL's margin above it.
      expect(maxOf({ toolboxImage: PINNED_IMAGE, maxRingSeconds: 3000, graceSeconds: 60 })).toBe(
        3000 + 60 + URL_EXTRA_SECONDS,
      );
    });

    it('refuses a capture longer than the upload URL can live (role chaining: one hour)', () => {
      expect(() => synth({ toolboxImage: PINNED_IMAGE, maxDurationSeconds: 7200 })).toThrow(
        /maxDurationSeconds 7200 .* longer than the host's upload URL lives.*role chaining.*3600 s/,
      );
      expect(() => synth({ toolboxImage: PINNED_IMAGE, maxRingSeconds: 3500 })).toThrow(
        /lower maxRingSeconds/,
      );
    });
  });
});
