/**
 * Prints the state machine definition of a synthesized template, every token resolved to a stable
 * fake value (the sandbox's resolver, lib/sandbox/template.ts), for `asl-validator`:
 *
 *   npx tsx scripts/state-machine-definition.ts cdk.out/DebugTask.template.json > definition.json
 */
import { readFileSync } from 'node:fs';
import { stateMachineDefinition, type CfnTemplate } from '../lib/sandbox/template';

const [templatePath] = process.argv.slice(2);
if (!templatePath) {
  console.error('usage: tsx scripts/state-machine-definition.ts <template.json>');
  process.exit(2);
}
const template = JSON.parse(readFileSync(templatePath, 'utf8')) as CfnTemplate;
process.stdout.write(`${JSON.stringify(stateMachineDefinition(template).definition, null, 2)}\n`);
