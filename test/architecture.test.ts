/**
 * The import directions of src/ (.dependency-cruiser.cjs says which and why),
 * checked on every `npm test` so that a wrong-way import fails here, next to
 * the change that made it, rather than in review.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const root = fileURLToPath(new URL('..', import.meta.url));

async function cruiseSrc(): Promise<ICruiseResult> {
  const options = await extractDepcruiseOptions(`${root}.dependency-cruiser.cjs`);
  const { output } = await cruise(['src'], { ...options, baseDir: root }, undefined, {
    tsConfig: extractTSConfig(`${root}tsconfig.json`),
  });
  return output as ICruiseResult;
}

describe('architecture', () => {
  it('src/ imports only downwards, with no cycles', async () => {
    const result = await cruiseSrc();

    // Guard against a vacuous pass: if `.js` specifiers stopped resolving to
    // the `.ts` sources, or type-only imports were dropped, there would be no
    // edges to judge and every rule would hold.
    const loop = result.modules.find((m) => m.source === 'src/engine/loop.ts');
    expect(loop?.dependencies.map((d) => d.resolved)).toContain('src/engine/driver.ts');
    expect(result.summary.totalCruised).toBeGreaterThan(40);

    const violations = result.summary.violations.map((v) =>
      v.cycle !== undefined && v.cycle.length > 0
        ? `${v.rule.name}: ${[v.from, ...v.cycle.map((c) => c.name)].join(' → ')}`
        : `${v.rule.name}: ${v.from} → ${v.to}`,
    );
    expect(violations).toEqual([]);
  });
});
