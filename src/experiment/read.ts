/**
 * Reads a results folder (manifest.json + cells/<id>.json, see manifest.ts).
 *
 * A cell counts when its result file is there and valid, whatever its status
 * says: the runner writes the file (atomically) before it marks the cell done,
 * so a crash in between leaves a good file under a "pending" cell. A cell
 * without a file is missing (pending, failed, or not run yet). A file that is
 * there but not a valid result is an error: it would silently drop a repeat.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputFileError } from '../errors.js';
import { RESULT_SCHEMA, type Result } from '../result.js';
import { resultProblem } from '../report/html.js';
import { MANIFEST_SCHEMA, type ExperimentManifest, type ManifestCell } from './manifest.js';

const MANIFEST_FILE = 'manifest.json';

export interface ExperimentRead {
  /** The folder it was read from. */
  dir: string;
  manifest: ExperimentManifest;
  /** Cells with a result, in manifest (run) order. */
  cells: { cell: ManifestCell; result: Result }[];
  /** Cells without a result file. */
  missing: ManifestCell[];
}

/** True when `path` is a directory holding a manifest.json (what `tsload report` takes for a results folder). */
export function isResultsFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory() && existsSync(join(path, MANIFEST_FILE));
  } catch {
    return false;
  }
}

/** The folder's manifest, checked (what resume compares the plan with). */
export function readManifest(dir: string): ExperimentManifest {
  const manifestPath = join(dir, MANIFEST_FILE);
  const manifest = readJson(manifestPath);
  const problem = manifestProblem(manifest);
  if (problem !== null) throw new InputFileError(manifestPath, undefined, problem);
  return manifest as ExperimentManifest;
}

/** A cell's result file if it is there and whole, else undefined (resume runs the cell again). */
export function readCellResult(dir: string, cell: Pick<ManifestCell, 'file'>): Result | undefined {
  try {
    const result = JSON.parse(readFileSync(join(dir, cell.file), 'utf8')) as Result;
    return result?.schema === RESULT_SCHEMA && resultProblem(result) === null ? result : undefined;
  } catch {
    return undefined;
  }
}

export function readExperiment(dir: string): ExperimentRead {
  const m = readManifest(dir);
  const cells: ExperimentRead['cells'] = [];
  const missing: ManifestCell[] = [];
  for (const cell of m.cells) {
    const file = join(dir, cell.file);
    if (!existsSync(file)) {
      missing.push(cell);
      continue;
    }
    const value = readJson(file);
    const bad = resultProblem(value);
    if (bad !== null) throw new InputFileError(file, undefined, bad);
    const result = value as Result;
    if (result.protocol !== cell.protocol) throw new InputFileError(file, undefined, `protocol is ${result.protocol}, the manifest says ${cell.protocol}`);
    cells.push({ cell, result });
  }
  return { dir, manifest: m, cells, missing };
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InputFileError(file, undefined, `cannot read: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InputFileError(file, undefined, `not JSON: ${(error as Error).message}`);
  }
}

/** Why a value is not a manifest this reader understands, or null; checks what the summary reads. */
export function manifestProblem(value: unknown): string | null {
  if (!isObject(value)) return `not a tsload experiment manifest (expected an object with schema "${MANIFEST_SCHEMA}")`;
  if (value['schema'] !== MANIFEST_SCHEMA) return `not a tsload experiment manifest: schema is ${JSON.stringify(value['schema'] ?? null)}, expected "${MANIFEST_SCHEMA}"`;
  if (!Array.isArray(value['cells'])) return 'cells must be an array';
  const ids = new Set<string>();
  for (const [i, cell] of value['cells'].entries()) {
    const where = `cells[${i}]`;
    if (!isObject(cell)) return `${where} must be an object`;
    for (const key of ['id', 'target', 'workload', 'file'] as const) if (typeof cell[key] !== 'string' || cell[key] === '') return `${where}.${key} must be a non-empty string`;
    if (!Number.isInteger(cell['repeat']) || (cell['repeat'] as number) < 1) return `${where}.repeat must be a whole number >= 1`;
    if (cell['protocol'] !== 'http' && cell['protocol'] !== 'dns') return `${where}.protocol must be "http" or "dns"`;
    if (cell['status'] !== 'done' && cell['status'] !== 'pending' && cell['status'] !== 'failed') return `${where}.status must be done, pending or failed`;
    const file = cell['file'] as string;
    // The folder is the unit a user copies around: a cell outside it would not travel with it.
    if (file.startsWith('/') || file.split(/[\\/]/).includes('..')) return `${where}.file must be a path inside the folder`;
    if (ids.has(cell['id'] as string)) return `${where}.id ${JSON.stringify(cell['id'])} appears twice`;
    ids.add(cell['id'] as string);
  }
  for (const key of ['machine', 'versions', 'testbed', 'plan'] as const) if (value[key] !== undefined && !isObject(value[key])) return `${key} must be an object`;
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
