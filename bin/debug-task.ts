#!/usr/bin/env node
import { main } from '../lib/cli/main';

// The SDK's eight-line notice about Node 20 would follow every command; the README says it instead.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

main(process.argv).then((code) => {
  process.exitCode = code;
});
