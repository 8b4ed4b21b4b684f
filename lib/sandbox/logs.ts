import { appendFile } from 'node:fs/promises';
import { AwsApiError, requiredString, startJsonServer, type JsonObject } from './aws-json-server';

/**
 * The CloudWatch Logs stand-in of the local sandbox: the audit log group (lib/audit/), so that the
 * real handlers write their audit events with the real client (AWS_ENDPOINT_URL_CLOUDWATCH_LOGS) and
 * a user of `debug-task sandbox`, or a test, can read them. CreateLogStream and PutLogEvents, for the
 * one log group it is given, as CloudWatch Logs answers them (ResourceNotFoundException for another
 * group or an unknown stream, ResourceAlreadyExistsException for a stream made twice); each message
 * is kept, and appended as one line to `file` (JSON lines: the audit events, in the order written).
 */
export interface LogsStandInOptions {
  readonly logGroupName: string;
  /** Where every message is appended, one per line. */
  readonly file: string;
  readonly onCall?: (call: { service: 'logs'; action: string }) => void;
}

export interface LogsStandIn {
  /** http://127.0.0.1:<port>, for AWS_ENDPOINT_URL_CLOUDWATCH_LOGS. */
  readonly endpoint: string;
  readonly logGroupName: string;
  readonly file: string;
  /** Every message written so far, parsed when it is JSON. */
  events(): unknown[];
  stop(): Promise<void>;
}

/** PutLogEvents' limits, checked as the service checks them. */
const MAX_EVENTS = 10_000;
const MAX_BATCH_BYTES = 1_048_576;

export async function startLogsStandIn(options: LogsStandInOptions): Promise<LogsStandIn> {
  const streams = new Set<string>();
  const messages: string[] = [];
  // Appends in order, one after the other, whatever the interleaving of requests.
  let writes = Promise.resolve();

  const group = (input: JsonObject) => {
    const name = requiredString(input, 'logGroupName', 'InvalidParameterException');
    if (name !== options.logGroupName) {
      throw new AwsApiError('ResourceNotFoundException', 'The specified log group does not exist.');
    }
    return name;
  };

  const server = await startJsonServer(
    [
      {
        service: 'logs',
        targetPrefix: 'Logs_20140328',
        internalErrorType: 'ServiceUnavailableException',
        actions: {
          CreateLogStream: (input) => {
            group(input);
            const stream = requiredString(input, 'logStreamName', 'InvalidParameterException');
            if (streams.has(stream)) {
              throw new AwsApiError(
                'ResourceAlreadyExistsException',
                'The specified log stream already exists',
              );
            }
            streams.add(stream);
            return {};
          },
          PutLogEvents: async (input) => {
            group(input);
            const stream = requiredString(input, 'logStreamName', 'InvalidParameterException');
            if (!streams.has(stream)) {
              throw new AwsApiError('ResourceNotFoundException', 'The specified log stream does not exist.');
            }
            const events = input.logEvents;
            if (!Array.isArray(events) || events.length === 0 || events.length > MAX_EVENTS) {
              throw new AwsApiError(
                'InvalidParameterException',
                `logEvents must hold 1 to ${MAX_EVENTS} events.`,
              );
            }
            const batch = events.map((e) => String((e as { message?: unknown }).message ?? ''));
            const bytes = batch.reduce((sum, m) => sum + Buffer.byteLength(m) + 26, 0);
            if (bytes > MAX_BATCH_BYTES) {
              throw new AwsApiError(
                'InvalidParameterException',
                'Upload too large: the batch is over 1,048,576 bytes.',
              );
            }
            messages.push(...batch);
            writes = writes.then(() => appendFile(options.file, batch.map((m) => `${m}\n`).join('')));
            await writes;
            return { nextSequenceToken: undefined };
          },
        },
      },
    ],
    (_service, action) => options.onCall?.({ service: 'logs', action }),
  );
  return {
    endpoint: server.endpoint,
    logGroupName: options.logGroupName,
    file: options.file,
    events: () =>
      messages.map((m) => {
        try {
          return JSON.parse(m) as unknown;
        } catch {
          return m;
        }
      }),
    stop: () => server.close(),
  };
}
