/**
 * Starting and stopping a plan's target, whatever kind it is. VMs come from
 * `testbed.startVm`, which another branch adds: it is looked up at run time,
 * so this module builds with or without it, and a plan with a VM target says
 * plainly when this build cannot start one.
 */
import { EnvironmentError } from '../errors.js';
import type { ProtocolName } from '../protocols/index.js';
import * as testbed from '../testbed/index.js';
import type { RunningTarget, StartOptions, TargetName } from '../testbed/index.js';
import type { PlanTarget, PlanVm } from './plan.js';

/** What a VM record adds to RunningTarget (the VM branch's shape; optional here). */
export type Running = RunningTarget & { services?: { protocol: ProtocolName; port: number; endpoint: string }[]; limits?: unknown };

type StartVm = (options: PlanVm & { name: string }) => Promise<Running>;

function startVmFunction(): StartVm | undefined {
  const startVm = (testbed as unknown as Record<string, unknown>).startVm;
  return typeof startVm === 'function' ? (startVm as StartVm) : undefined;
}

export async function startPlanTarget(target: PlanTarget, onNotice?: (line: string) => void): Promise<Running> {
  if (target.vm !== undefined) {
    const startVm = startVmFunction();
    if (startVm === undefined) throw new EnvironmentError(`${target.name}: this build of tsload cannot start VMs (testbed.startVm is missing)`);
    return startVm({ ...target.vm, ...(target.start.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: target.start.readyTimeoutMs }), name: target.name });
  }
  // cpus and memory are StartOptions of the resource-limits branch: passed as given, and checked below.
  const running: Running = await testbed.start(target.server!, target.start as StartOptions);
  if ((target.start.cpus !== undefined || target.start.memory !== undefined) && running.limits === undefined) {
    onNotice?.(`tsload: ${target.name}: cpus/memory were asked, but this build's testbed does not apply them (no limits in the target's record)`);
  }
  return running;
}

export async function stopPlanTarget(name: string): Promise<void> {
  // VM names are not TargetNames; the VM branch's stop() takes them.
  await testbed.stop(name as TargetName);
}

/** Where a generator aims for this protocol: the target's service of it. */
export function endpointOf(running: Running, protocol: ProtocolName): string {
  const service = running.services?.find((s) => s.protocol === protocol);
  if (service !== undefined) return service.endpoint;
  if (running.protocol === protocol) return running.endpoint;
  throw new EnvironmentError(`${running.name} serves no ${protocol}`);
}

export async function isRunning(name: string): Promise<boolean> {
  return (await testbed.status()).targets.some((t) => t.name === name && t.alive);
}
