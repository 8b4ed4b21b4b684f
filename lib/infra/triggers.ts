import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { CfnRule, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { eventPatternOf, type ResolvedTrigger } from '../triggers/declaration';
import type { TriggerPresets } from '../triggers/presets';
import { acknowledge } from './nag';

export interface TriggerRulesProps {
  /** The deployment's triggers, checked (lib/triggers/declaration.ts). */
  readonly triggers: readonly ResolvedTrigger[];
  /** The api function: it runs every trigger's preset (lambda/api.ts). */
  readonly handler: IFunction;
}

/** How long EventBridge keeps retrying a delivery to the api function: an incident is now or never. */
export const TRIGGER_MAX_EVENT_AGE = Duration.hours(1);
export const TRIGGER_RETRY_ATTEMPTS = 8;

/**
 * One EventBridge rule per declared trigger, on the account's default event bus, whose one target is
 * the existing api function (no function of its own: the api function already holds the start and
 * stop paths, their validation and their authorization). The target's input is written by the rule,
 * not taken from the event: the trigger's name (a constant of the rule: which preset runs) and the
 * rule's ARN (EventBridge's `<aws.events.rule-arn>`: the trigger's principal), plus the event's
 * envelope for the audit record (`<aws.events.event>`, which carries no `detail`).
 *
 * Each rule may invoke the function only as itself (a Lambda permission whose SourceArn is that
 * rule). A delivery EventBridge cannot make is retried for up to an hour, then kept in a dead-letter
 * queue (14 days), where an operator sees which incident went uncaptured.
 */
export class TriggerRules extends Construct {
  public readonly rules: Record<string, Rule> = {};
  public readonly deadLetters: Queue;

  constructor(scope: Construct, id: string, props: TriggerRulesProps) {
    super(scope, id);
    this.deadLetters = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledge(
      this.deadLetters,
      "This queue is itself the dead-letter queue of the trigger rules' targets (EventBridge DeadLetterConfig), " +
        'which cdk-nag only recognizes for SQS redrive and Lambda; a dead-letter queue of its own would hold nothing.',
      'AwsSolutions-SQS3',
    );

    const scopeArns = { partition: Aws.PARTITION, region: Aws.REGION, account: Aws.ACCOUNT_ID };
    for (const trigger of props.triggers) {
      const rule = new Rule(this, trigger.name, {
        description: `debug-task trigger "${trigger.name}": ${describeAction(trigger)}`.slice(0, 512),
        // Replaced below by the pattern as EventBridge reads it (its keys are not CDK's camelCase).
        eventPattern: { source: ['debug-task.placeholder'] },
      });
      const cfn = rule.node.defaultChild as CfnRule;
      cfn.addPropertyOverride('EventPattern', eventPatternOf(trigger.on, scopeArns));
      rule.addTarget(
        new LambdaFunction(props.handler, {
          event: RuleTargetInput.fromObject({ debugTask: 'trigger', trigger: trigger.name }),
          deadLetterQueue: this.deadLetters,
          retryAttempts: TRIGGER_RETRY_ATTEMPTS,
          maxEventAge: TRIGGER_MAX_EVENT_AGE,
        }),
      );
      // Input -> InputTransformer: the rule's ARN comes from EventBridge itself (CDK has no field for it).
      cfn.addPropertyDeletionOverride('Targets.0.Input');
      cfn.addPropertyOverride('Targets.0.InputTransformer', {
        InputTemplate: triggerInputTemplate(trigger.name),
      });
      this.rules[trigger.name] = rule;
    }
  }
}

/**
 * What a trigger's rule sends the api function (lib/triggers/dispatch.ts, TriggerInvocation). The
 * name is safe to write unescaped: it is letters, digits, - and _ (TRIGGER_NAME).
 */
export function triggerInputTemplate(name: string): string {
  return `{"debugTask":"trigger","trigger":"${name}","ruleArn":"<aws.events.rule-arn>","event":<aws.events.event>}`;
}

/** The presets the api function looks triggers up in (its DEBUG_TASK_TRIGGERS). */
export function presetsOf(triggers: readonly ResolvedTrigger[]): TriggerPresets {
  return Object.fromEntries(triggers.map((t) => [t.name, t.preset]));
}

function describeAction(trigger: ResolvedTrigger): string {
  const preset = trigger.preset;
  if (preset.action === 'stop') {
    const target = preset.target.service ? `service ${preset.target.service}` : `task ${preset.target.task}`;
    return `stop and keep the ring sessions of ${target} (cluster ${preset.target.cluster})`;
  }
  const target = preset.request.target;
  return `start ${preset.request.tool} on ${target.service ? `service ${target.service}` : `task ${target.task}`} (cluster ${target.cluster})`;
}
