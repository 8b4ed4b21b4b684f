import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Authorizer } from '../../../lib/authz/authorizer';
import { isOwner, principalName } from '../../../lib/authz/owner';
import { PolicyFileError, loadCedar, parsePolicyText } from '../../../lib/authz/policy-file';
import type { CaptureContext, TaskAttributes } from '../../../lib/authz/schema';

const ONCALL = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
const SECURITY = 'arn:aws:sts::123456789012:assumed-role/security/bob';

const task = (over: Partial<TaskAttributes> = {}): TaskAttributes => ({
  taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/prod/0123456789abcdef0123456789abcdef',
  cluster: 'prod',
  service: 'payments',
  container: 'web',
  launchType: 'EC2',
  networkMode: 'bridge',
  tags: { team: 'payments' },
  ...over,
});
const capture = (over: Partial<CaptureContext> = {}): CaptureContext => ({
  tool: 'tcpdump',
  durationSeconds: 60,
  maxBytes: 100_000_000,
  allowHostNetwork: false,
  allowHostPid: false,
  reason: 'INC-1',
  targets: 1,
  ...over,
});

/** The README's three examples, as a deployment would write them. */
const POLICY = `// on-call: capture on cluster prod, for a while
@id("oncall-prod")
permit (principal, action == DebugTask::Action::"capture", resource)
when {
  principal.arn like "arn:aws:sts::123456789012:assumed-role/oncall/*" &&
  resource.cluster == "prod" && context.durationSeconds <= 300
};

@id("security-reads-all")
permit (principal, action in [DebugTask::Action::"read", DebugTask::Action::"fetch"], resource)
when { principal.arn like "arn:aws:sts::123456789012:assumed-role/security/*" };

@id("no-strace-in-prod")
forbid (principal, action == DebugTask::Action::"capture", resource)
when { resource.cluster == "prod" && context.tool == "strace" };

@id("payments-only-tagged")
forbid (principal, action, resource)
when { resource.hasTag("pci") && resource.getTag("pci") == "true" };
`;

describe('a deployment policy file', () => {
  const cedar = loadCedar();
  const authorizer = new Authorizer(parsePolicyText(POLICY, 'policy.cedar', cedar), cedar);

  it('names each policy by its @id', () => {
    expect(Object.keys(parsePolicyText(POLICY, 'policy.cedar', cedar).policies)).toEqual([
      'oncall-prod',
      'security-reads-all',
      'no-strace-in-prod',
      'payments-only-tagged',
    ]);
  });

  it('permits what a permit covers, naming it', () => {
    expect(authorizer.decide('capture', ONCALL, task(), capture())).toMatchObject({
      allowed: true,
      policies: ['oncall-prod'],
      rule: 'permit "oncall-prod"',
    });
  });

  it('denies by default: no permit applies (another cluster, another caller, too long)', () => {
    for (const [caller, t, c] of [
      [ONCALL, task({ cluster: 'staging' }), capture()],
      [SECURITY, task(), capture()],
      [ONCALL, task(), capture({ durationSeconds: 900 })],
    ] as const) {
      expect(authorizer.decide('capture', caller, t, c)).toMatchObject({
        allowed: false,
        policies: [],
        rule: 'no permit applies',
      });
    }
  });

  it('a forbid wins over a permit, and the denial names the forbid', () => {
    expect(authorizer.decide('capture', ONCALL, task(), capture({ tool: 'strace' }))).toMatchObject({
      allowed: false,
      policies: ['no-strace-in-prod'],
      rule: 'forbid "no-strace-in-prod"',
    });
  });

  it('reads task tags as Cedar entity tags', () => {
    expect(authorizer.decide('capture', ONCALL, task({ tags: { pci: 'true' } }), capture())).toMatchObject({
      allowed: false,
      policies: ['payments-only-tagged'],
    });
  });

  it('lets the security team read every session, and nobody else', () => {
    expect(authorizer.decide('read', SECURITY, task()).allowed).toBe(true);
    expect(authorizer.decide('read', ONCALL, task()).allowed).toBe(false);
    expect(authorizer.decide('cancel', SECURITY, task()).allowed).toBe(false);
  });

  it('refuses a file that does not parse, naming the file, line and column', () => {
    expect(() =>
      parsePolicyText(
        'permit (principal, action, resource)\nwhen { resource.cluster == };',
        'p.cedar',
        cedar,
      ),
    ).toThrow(/^p\.cedar:2:28: .*unexpected token/);
  });

  it('refuses a policy the schema does not allow, pointing at the attribute', () => {
    const text = '@id("typo")\npermit (principal, action, resource)\nwhen { resource.clustr == "prod" };';
    const error = (() => {
      try {
        parsePolicyText(text, 'p.cedar', cedar);
      } catch (e) {
        return e as Error;
      }
      throw new Error('no error');
    })();
    expect(error).toBeInstanceOf(PolicyFileError);
    expect(error.message).toMatch(/^p\.cedar:3:8: .*clustr.*did you mean `cluster`.*\[policy "typo"\]$/);
  });

  it('refuses two policies with one @id, an unknown action and templates', () => {
    expect(() =>
      parsePolicyText(
        '@id("a") permit (principal, action, resource);\n@id("a") forbid (principal, action, resource);',
        'p',
        cedar,
      ),
    ).toThrow(/p:2:1: two policies have the @id "a"/);
    expect(() =>
      parsePolicyText('permit (principal, action == DebugTask::Action::"delete", resource);', 'p', cedar),
    ).toThrow(/p:1:/);
    expect(() => parsePolicyText('permit (principal == ?principal, action, resource);', 'p', cedar)).toThrow(
      /templates/,
    );
  });
});

describe('owner isolation', () => {
  it('is the same principal: for a role, the same session name', () => {
    expect(isOwner(ONCALL, ONCALL)).toBe(true);
    expect(isOwner('arn:aws:sts::123456789012:assumed-role/oncall/bob', ONCALL)).toBe(false);
    expect(isOwner('arn:aws:iam::123456789012:user/alice', 'arn:aws:iam::123456789012:user/alice')).toBe(
      true,
    );
    expect(isOwner('unknown', 'unknown')).toBe(false);
    expect(isOwner(ONCALL, undefined)).toBe(false);
  });

  it('shortens an ARN for messages', () => {
    expect(principalName(ONCALL)).toBe('assumed-role/oncall/alice');
  });
});

describe('the README’s example policy (examples/policy.cedar)', () => {
  const cedar = loadCedar();
  const file = join(__dirname, '..', '..', '..', 'examples', 'policy.cedar');
  const authorizer = new Authorizer(parsePolicyText(readFileSync(file, 'utf8'), file, cedar), cedar);
  const ALICE = 'arn:aws:sts::123456789012:assumed-role/oncall/alice';
  const BOB = 'arn:aws:sts::123456789012:assumed-role/security/bob';

  it('on-call captures on prod within its limits, not on staging, not longer', () => {
    expect(authorizer.decide('capture', ALICE, task(), capture()).rule).toBe('permit "oncall-captures-prod"');
    expect(authorizer.decide('capture', ALICE, task({ cluster: 'staging' }), capture()).allowed).toBe(false);
    expect(authorizer.decide('capture', ALICE, task(), capture({ durationSeconds: 900 })).allowed).toBe(
      false,
    );
  });

  it('security reads and fetches every session, and captures nothing', () => {
    expect(authorizer.decide('read', BOB, task({ cluster: 'staging' })).allowed).toBe(true);
    expect(authorizer.decide('fetch', BOB, task()).allowed).toBe(true);
    expect(authorizer.decide('cancel', BOB, task()).allowed).toBe(false);
    expect(authorizer.decide('capture', BOB, task(), capture()).allowed).toBe(false);
  });

  it('no strace in prod, even for on-call, naming the forbid', () => {
    const decision = authorizer.decide('capture', ALICE, task(), capture({ tool: 'strace' }));

    expect(decision).toMatchObject({ allowed: false, rule: 'forbid "no-strace-in-prod"' });
  });
});
