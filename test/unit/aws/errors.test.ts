import { DebugTaskError } from '../../../lib/domain/errors';
import { awsCall, isNotFound, translateAwsError } from '../../../lib/aws/errors';
import { caught } from '../../support/fixtures';

function sdkError(name: string, message: string, $metadata: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata });
}

describe('translateAwsError', () => {
  it('names the call and the SDK error, and keeps the SDK error as cause', () => {
    const cause = sdkError('ServerException', 'Service unavailable', {
      httpStatusCode: 500,
      requestId: 'req-1',
    });

    const error = translateAwsError('ecs:DescribeTasks', cause);

    expect(error).toBeInstanceOf(DebugTaskError);
    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: 'ecs:DescribeTasks failed: ServerException: Service unavailable',
      cause,
      details: {
        call: 'ecs:DescribeTasks',
        awsError: 'ServerException',
        httpStatus: 500,
        requestId: 'req-1',
      },
    });
  });

  it('hints at the IAM policy when access is denied', () => {
    const error = translateAwsError('ssm:SendCommand', sdkError('AccessDeniedException', 'not authorized'));

    expect(error.hint).toContain('may not call ssm:SendCommand');
  });

  it('hints at the request rate when AWS throttles, with the attempts the SDK made', () => {
    const error = translateAwsError(
      'ecs:DescribeTasks',
      Object.assign(sdkError('ThrottlingException', 'Rate exceeded', { attempts: 3 }), {
        $retryable: { throttling: true },
      }),
    );

    expect(error.hint).toContain('throttled ecs:DescribeTasks after 3 attempts');
  });

  it('hints at the region when ECS says the identifier is for another region', () => {
    const error = translateAwsError(
      'ecs:DescribeTasks',
      sdkError('InvalidParameterException', 'Identifier is for us-west-2. Your region is xx-test-1'),
    );

    expect(error.hint).toContain('another region than xx-test-1');
  });

  it('hints at the region when S3 redirects to the bucket region', () => {
    const error = translateAwsError(
      's3:HeadObject',
      sdkError('PermanentRedirect', 'moved', { httpStatusCode: 301 }),
    );

    expect(error.hint).toContain('another region');
  });

  it('hints at the endpoint when the network fails', () => {
    const error = translateAwsError(
      'ssm:SendCommand',
      Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }),
    );

    expect(error.hint).toContain('AWS_ENDPOINT_URL_SSM');
  });

  it('hints at the credentials when they are invalid', () => {
    const error = translateAwsError(
      'ssm:SendCommand',
      sdkError('UnrecognizedClientException', 'bad token', { httpStatusCode: 400 }),
    );

    expect(error.hint).toContain('credentials');
  });

  it('lets the call site map a specific SDK error to one of our codes', () => {
    const error = translateAwsError('ssm:SendCommand', sdkError('InvalidInstanceId', 'nope'), (info) =>
      info.name === 'InvalidInstanceId' ? new DebugTaskError('SSM_AGENT_OFFLINE', 'offline') : undefined,
    );

    expect(error.code).toBe('SSM_AGENT_OFFLINE');
  });

  it('passes a DebugTaskError through unchanged', () => {
    const ours = new DebugTaskError('CANCELLED', 'cancelled');

    expect(translateAwsError('s3:HeadObject', ours)).toBe(ours);
  });

  it('shortens a very long SDK message', () => {
    const error = translateAwsError('s3:PutObject', sdkError('InternalError', 'x'.repeat(2000)));

    expect(error.message.length).toBeLessThan(400);
  });
});

describe('awsCall', () => {
  it("returns the call's result", async () => {
    await expect(awsCall('ssm:SendCommand', async () => 7)).resolves.toBe(7);
  });

  it('rejects with the translated error', async () => {
    const error = await caught(() =>
      awsCall('ssm:SendCommand', async () => {
        throw sdkError('InvalidDocument', 'no such document');
      }),
    );

    expect(error).toMatchObject({
      code: 'AWS_ERROR',
      message: 'ssm:SendCommand failed: InvalidDocument: no such document',
    });
  });
});

describe('isNotFound', () => {
  it.each([
    ['NotFound', 404, true],
    ['NoSuchKey', 404, true],
    ['Unknown', 404, true],
    ['Forbidden', 403, false],
  ])('is %s for %s (status %d)', (name, status, expected) => {
    expect(isNotFound(sdkError(name, 'x', { httpStatusCode: status }))).toBe(expected);
  });
});
