// Every test runs with a fake region and fake credentials: an SDK call that escapes its mock or
// stand-in fails loudly (unknown region / invalid token) instead of reaching a real account.
process.env.AWS_REGION = 'xx-test-1';
process.env.AWS_DEFAULT_REGION = 'xx-test-1';
process.env.AWS_ACCESS_KEY_ID = 'AKIATESTFAKE0000000';
process.env.AWS_SECRET_ACCESS_KEY = 'test-secret-not-real';
delete process.env.AWS_PROFILE;
delete process.env.AWS_SESSION_TOKEN;
process.env.POWERTOOLS_LOG_LEVEL = process.env.POWERTOOLS_LOG_LEVEL ?? 'SILENT';
