/**
 * Entry point of each load thread (piscina's handler). One task runs a whole
 * plan: the driver and its connections live across steps, and the main thread
 * starts each step at the same absolute time in every thread.
 */
import type { DriverModule } from './driver.js';
import { OpenLoop } from './loop.js';
import type { MainToWorker, WorkerTask, WorkerToMain } from './messages.js';
import { processShare } from './segment.js';

export default async function runWorker(task: WorkerTask): Promise<void> {
  const { plan, threadIndex, port } = task;
  const post = (message: WorkerToMain): void => port.postMessage(message);
  const driverModule = (await import(plan.driverModule)) as DriverModule<unknown>;
  const share = processShare(plan).split(plan.threadCount)[threadIndex]!;
  const loop = new OpenLoop({
    share,
    arrival: plan.arrival,
    seed: plan.seed,
    maxInflight: plan.maxInflight,
    busyPoll: plan.busyPoll,
    onSecond: post,
  });
  const driver = await driverModule.createDriver(plan.driverOptions, loop, {
    share,
    timeoutMs: plan.timeoutMs,
    maxInflight: plan.maxInflight,
  });
  loop.attach(driver);
  try {
    await new Promise<void>((resolve, reject) => {
      port.on('message', (message: MainToWorker) => {
        if (message.type === 'step') loop.runStep(message).then(post, reject);
        else if (message.type === 'stop') loop.stop();
        else resolve();
      });
      post({ type: 'ready' });
    });
  } finally {
    await driver.close();
    port.close();
  }
}
