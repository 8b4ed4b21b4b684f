import { randomUUID } from 'node:crypto';
import { matchesEventPattern } from '../triggers/event-pattern';
import { AwsApiError, startJsonServer, type JsonObject } from './aws-json-server';
import type { TemplateEventRule } from './template';

/**
 * EventBridge for the sandbox: the rules of the synthesized template (the deployment's triggers),
 * matched against an event as EventBridge matches them (lib/triggers/event-pattern.ts), and each
 * matching rule's target invoked with the input its input transformer writes: the rule's ARN for
 * `<aws.events.rule-arn>`, the event without its detail for `<aws.events.event>`. So an event given
 * to the sandbox runs the same handler, with the same input, as one the deployment's rule delivers.
 *
 * `deliver` is for tests and `demo`, which await the handler's answer; the PutEvents endpoint
 * (AWS_ENDPOINT_URL_EVENTS of `debug-task sandbox`) delivers in the background as EventBridge does,
 * so `aws events put-events --endpoint-url ...` reaches the sandbox's triggers.
 */
export type EventHandler = (input: unknown) => Promise<unknown>;

/** One rule that matched an event, and what its target answered. */
export interface Delivery {
  rule: string;
  ruleArn: string;
  handler: string;
  input: unknown;
  result: unknown;
}

export interface EventBus {
  /** Matches `event` against every rule and awaits each matching target. */
  deliver(event: Record<string, unknown>): Promise<Delivery[]>;
}

export function createEventBus(
  rules: readonly TemplateEventRule[],
  handlers: Readonly<Record<string, EventHandler>>,
  envelope: { region: string; account: string },
): EventBus {
  return {
    async deliver(given) {
      const event = withEnvelope(given, envelope);
      const deliveries: Delivery[] = [];
      for (const rule of rules) {
        if (!matchesEventPattern(rule.pattern, event)) continue;
        for (const target of rule.targets) {
          const handler = handlers[target.handler];
          if (!handler)
            throw new Error(`The sandbox has no local handler for the ${target.handler} function.`);
          const input = targetInput(target, rule.ruleArn, event);
          deliveries.push({
            rule: rule.logicalId,
            ruleArn: rule.ruleArn,
            handler: target.handler,
            input,
            result: await handler(input),
          });
        }
      }
      return deliveries;
    },
  };
}

/** What EventBridge adds to an event it is given (PutEvents): the envelope's fields. */
function withEnvelope(
  event: Record<string, unknown>,
  envelope: { region: string; account: string },
): Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    account: envelope.account,
    time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    region: envelope.region,
    resources: [],
    detail: {},
    ...event,
  };
}

/** The target's input: the event itself, a constant, or its input transformer's template filled in. */
function targetInput(
  target: TemplateEventRule['targets'][number],
  ruleArn: string,
  event: Record<string, unknown>,
): unknown {
  if (target.input !== undefined) return JSON.parse(target.input);
  if (target.inputTemplate === undefined) return event;
  const withoutDetail = Object.fromEntries(Object.entries(event).filter(([key]) => key !== 'detail'));
  const text = target.inputTemplate.replace(/<([A-Za-z0-9_.-]+)>/g, (match, name: string) => {
    switch (name) {
      case 'aws.events.rule-arn':
        return ruleArn;
      case 'aws.events.rule-name':
        return ruleArn.split('/').at(-1) ?? '';
      case 'aws.events.event':
        return JSON.stringify(withoutDetail);
      case 'aws.events.event.json':
        return JSON.stringify(event);
      default:
        throw new Error(
          `The sandbox cannot fill ${match} of an input template (only EventBridge's own variables).`,
        );
    }
  });
  return JSON.parse(text);
}

function detailOf(detail: unknown): unknown {
  if (detail === undefined) return {};
  try {
    return JSON.parse(String(detail));
  } catch {
    throw new AwsApiError('ValidationException', "An entry's Detail is not a JSON object.");
  }
}

/**
 * EventBridge's PutEvents on loopback: each entry becomes an event (Source, DetailType, Detail as
 * JSON text, Resources, Time) on the default bus, delivered in the background.
 */
export async function startEventsStandIn(
  bus: EventBus,
  onDelivered: (deliveries: Delivery[] | Error) => void = () => undefined,
): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const server = await startJsonServer(
    [
      {
        service: 'events',
        targetPrefix: 'AWSEvents',
        internalErrorType: 'InternalException',
        actions: {
          PutEvents: (input: JsonObject) => {
            const entries = Array.isArray(input.Entries) ? (input.Entries as JsonObject[]) : [];
            if (entries.length === 0 || entries.length > 10) {
              throw new AwsApiError('ValidationException', 'PutEvents takes 1 to 10 entries.');
            }
            return {
              FailedEntryCount: 0,
              Entries: entries.map((entry) => {
                const id = randomUUID();
                const event = {
                  id,
                  source: entry.Source,
                  'detail-type': entry.DetailType,
                  resources: entry.Resources ?? [],
                  detail: detailOf(entry.Detail),
                  ...(typeof entry.Time === 'string' && { time: entry.Time }),
                };
                bus.deliver(event).then(onDelivered, (error: Error) => onDelivered(error));
                return { EventId: id };
              }),
            };
          },
        },
      },
    ],
    () => undefined,
  );
  return { endpoint: server.endpoint, stop: () => server.close() };
}
