import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { sharedClient } from './registry';

/** CloudWatch Logs, for the audit log only (lib/audit/): the functions' own logs go to stdout. */
export function logsClient(): CloudWatchLogsClient {
  return sharedClient('logs', () => new CloudWatchLogsClient({}));
}
