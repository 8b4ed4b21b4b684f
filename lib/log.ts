import { Logger } from '@aws-lambda-powertools/logger';

/** One structured JSON logger; handlers append `sessionId` so every line carries it. */
export const logger = new Logger({ serviceName: 'debug-task' });
