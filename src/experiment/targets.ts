/** Starting and stopping a plan's target, whatever kind it is: a server of the testbed's, or a VM. */
import { EnvironmentError } from '../errors.js';
import type { ProtocolName } from '../protocols/index.js';
import * as testbed from '../testbed/index.js';
import type { RunningTarget, StartOptions } from '../testbed/index.js';
import type { PlanTarget } from './plan.js';

export type Running = RunningTarget;

export async function startPlanTarget(target: PlanTarget, onNotice?: (line: string) => void): Promise<Running> {
  if (target.vm !== undefined) {
    return testbed.startVm({ ...target.vm, ...(target.start.readyTimeoutMs === undefined ? {} : { readyTimeoutMs: target.start.readyTimeoutMs }), name: target.name });
  }
  // cpus and memory are StartOptions of the resource-limits branch: passed as given, and checked below.
  const running: Running = await testbed.start(target.server!, target.start as StartOptions);
  if ((target.start.cpus !== undefined || target.start.memory !== undefined) && running.limits === undefined) {
    onNotice?.(`tsload: ${target.name}: cpus/memory were asked, but this build's testbed does not apply them (no limits in the target's record)`);
  }
  return running;
}

export async function stopPlanTarget(name: string): Promise<void> {
  await testbed.stop(name);
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
