// Load threads started from source (tsx, vitest) come here: Node 20 cannot load
// a .ts worker, and `--import tsx` in a worker's execArgv does not reach it, so
// the worker registers tsx itself before importing the real entry point.
// Built code never uses this file (see module-file.ts).
import { register } from 'tsx/esm/api';

register();
const { default: runWorker } = await import('./worker.ts');
export default runWorker;
