/**
 * `tsload experiment plan.yaml`: a plan of targets × workloads × repeats run
 * in the testbed into a results folder that a second run resumes.
 */
export { loadPlan, parsePlan, planCells, cellId, sanitizeName, plannedSeconds } from './plan.js';
export type { Plan, PlanCell, PlanSweep, PlanTarget, PlanVm, PlanWorkload, PlanStartOptions, PlannedCell } from './plan.js';
export { runExperiment } from './run.js';
export type { ExperimentRun, ExperimentProgress, RunExperimentOptions } from './run.js';
export { readExperiment, readManifest, readCellResult, isResultsFolder } from './read.js';
export type { ExperimentRead } from './read.js';
export { MANIFEST_SCHEMA } from './manifest.js';
export type { ExperimentManifest, ManifestCell, ManifestRun, Machine } from './manifest.js';
export { createExperimentProgress, experimentLine } from './progress.js';
