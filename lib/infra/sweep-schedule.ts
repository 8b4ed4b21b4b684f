import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export interface SweepScheduleProps {
  /** The `sweeper` function (lambda/sweeper.ts). */
  readonly handler: IFunction;
  /** Minutes between two sweeps. */
  readonly intervalMinutes: number;
}

/**
 * Runs the sweeper every `intervalMinutes`: the last of the three ways a toolbox container ends
 * (after the tool's own timeout and the host runner's watchdog), for whatever the other two missed
 * (a host that rebooted mid-session, a Cleanup that never ran).
 *
 * One sweep is one run: a failed invocation is not retried by Lambda, because the next tick sweeps
 * every host again anyway; an invocation EventBridge could not deliver is dropped once the next
 * tick is due, for the same reason.
 */
export class SweepSchedule extends Construct {
  public readonly rule: Rule;

  constructor(scope: Construct, id: string, props: SweepScheduleProps) {
    super(scope, id);
    const interval = Duration.minutes(props.intervalMinutes);

    this.rule = new Rule(this, 'Resource', {
      description: `debug-task: remove expired toolbox containers from every host, every ${props.intervalMinutes} min`,
      schedule: Schedule.rate(interval),
    });
    this.rule.addTarget(new LambdaFunction(props.handler, { maxEventAge: interval }));
    props.handler.configureAsyncInvoke({ retryAttempts: 0 });
  }
}
