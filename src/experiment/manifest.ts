/**
 * The results folder of `tsload experiment` (a contract other tools read):
 *
 *   <out>/manifest.json    an ExperimentManifest
 *   <out>/cells/<id>.json  one tsload Result per cell, label = the target's name
 *
 * with id = `${target}--${workload}--r${repeat}`. The runner writes it; the
 * summary and `tsload report DIR` read it. Fields are added, never renamed.
 */
import type { ProtocolOfResult } from '../result.js';

export const MANIFEST_SCHEMA = 'tsload-experiment/1';

export type CellStatus = 'done' | 'pending' | 'failed';

export interface ManifestCell {
  id: string;
  target: string;
  workload: string;
  /** 1-based. */
  repeat: number;
  protocol: ProtocolOfResult;
  /** Relative to the folder: `cells/<id>.json`. */
  file: string;
  status: CellStatus;
  error?: string;
  startedAt?: string;
  finishedAt?: string;
}

export interface MachineInfo {
  hostname: string;
  /** `uname -r`. */
  kernel: string;
  /** PRETTY_NAME of /etc/os-release. */
  os: string;
  /** CPU model. */
  cpu: string;
  cpus: number;
  memoryBytes: number;
  node: string;
}

export interface ExperimentManifest {
  schema: typeof MANIFEST_SCHEMA;
  planFile: string | null;
  /** The parsed plan, normalized (its shape is the runner's). */
  plan: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  machine: MachineInfo;
  versions: { tsload: string; servers: Record<string, string> };
  /** The link settings applied (`rate`, …). */
  testbed: Record<string, unknown>;
  /** In run order. */
  cells: ManifestCell[];
}
