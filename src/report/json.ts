/**
 * `--json` / `--format json`: the result object as it is (schema
 * "tsload/result@1"), keys in the object's own order, two-space indent, and a
 * final newline so shells and `jq` see a complete last line.
 */
import type { Result } from '../result.js';

export function formatJson(result: Result): string {
  return `${JSON.stringify(result, null, 2)}\n`;
}
