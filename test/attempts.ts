/**
 * Says so when a test attempt fails, so a failure that a retry (vitest.config.ts)
 * turned into a pass still shows in the log, with the reason.
 */
import { beforeEach } from 'vitest';

beforeEach(({ task, onTestFailed }) => {
  onTestFailed(({ task: failed }) => {
    const message = failed.result?.errors?.[0]?.message ?? 'no message';
    console.warn(`attempt ${(failed.result?.retryCount ?? 0) + 1} of "${task.name}" failed: ${message}`);
  });
});
