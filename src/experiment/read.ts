/**
 * A results folder, read back: the manifest and the result of every cell
 * that is done. What the summary and `tsload report DIR` start from.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputFileError } from '../errors.js';
import { RESULT_SCHEMA, type Result } from '../result.js';
import { MANIFEST_SCHEMA, type ExperimentManifest, type ManifestCell } from './manifest.js';

export interface ExperimentFolder {
  manifest: ExperimentManifest;
  /** The done cells, in run order, each with its result. */
  cells: { cell: ManifestCell; result: Result }[];
  /** Cells not done (pending or failed), in run order. */
  missing: ManifestCell[];
}

export function readManifest(dir: string): ExperimentManifest {
  const file = join(dir, 'manifest.json');
  let manifest: ExperimentManifest;
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8')) as ExperimentManifest;
  } catch (error) {
    throw new InputFileError(file, undefined, `not a results folder's manifest: ${(error as Error).message}`);
  }
  if (manifest?.schema !== MANIFEST_SCHEMA) throw new InputFileError(file, undefined, `schema ${JSON.stringify(manifest?.schema)}, expected ${MANIFEST_SCHEMA}`);
  return manifest;
}

/** A cell's result file if it is there and whole, else undefined. */
export function readCellResult(dir: string, cell: Pick<ManifestCell, 'file'>): Result | undefined {
  try {
    const result = JSON.parse(readFileSync(join(dir, cell.file), 'utf8')) as Result;
    return result?.schema === RESULT_SCHEMA ? result : undefined;
  } catch {
    return undefined;
  }
}

export function readExperiment(dir: string): ExperimentFolder {
  const manifest = readManifest(dir);
  const cells: ExperimentFolder['cells'] = [];
  const missing: ManifestCell[] = [];
  for (const cell of manifest.cells) {
    const result = cell.status === 'done' ? readCellResult(dir, cell) : undefined;
    if (result === undefined) missing.push(cell);
    else cells.push({ cell, result });
  }
  return { manifest, cells, missing };
}
