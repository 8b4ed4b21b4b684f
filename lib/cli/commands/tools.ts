import { EXIT } from '../../domain/errors';
import { TOOLS, TOOL_ARGUMENTS, TOOL_NAMES } from '../../domain/tools';
import { printJson, type Output } from '../output';
import { formatBytes } from '../units';

/** debug-task tools: the catalog, from the same definition the API and the runner use. */
export function toolsCommand(output: Output): number {
  if (output.json) {
    printJson(output, { tools: TOOL_NAMES.map((name) => TOOLS[name]) });
    return EXIT.OK;
  }
  for (const name of TOOL_NAMES) {
    const t = TOOLS[name];
    output.out.write(
      `${t.name.padEnd(9)} ${t.summary}\n` +
        `          output ${t.format}; capabilities ${t.capabilities.join('+') || 'none'}; ` +
        `duration ${t.defaultDurationSeconds}s (max ${t.maxDurationSeconds}s); ` +
        `size ${formatBytes(t.defaultMaxBytes)} (max ${formatBytes(t.maxMaxBytes)})` +
        `\n` +
        (t.takes.length > 0
          ? `          takes ${t.takes.map((argument) => TOOL_ARGUMENTS[argument].flag).join(', ')}\n`
          : ''),
    );
  }
  return EXIT.OK;
}
