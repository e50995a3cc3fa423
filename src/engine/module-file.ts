/**
 * The one place that decides how code loaded in another thread or process is
 * found. Built code (dist/*.js) loads siblings as .js. Source run under tsx or
 * vitest (src/*.ts) loads siblings as .ts, and a new thread or process needs
 * tsx's loader because Node 20 cannot load TypeScript itself (and vitest does
 * not transform files that worker threads load).
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const runningFromSource = import.meta.url.endsWith('.ts');

/** file: URL string of a module beside `fromUrl`, e.g. siblingModule(import.meta.url, '../protocols/http/driver'). */
export function siblingModule(fromUrl: string, relativeWithoutExtension: string): string {
  return new URL(`${relativeWithoutExtension}${runningFromSource ? '.ts' : '.js'}`, fromUrl).href;
}

/** Filesystem path of such a module (for child processes). */
export function siblingPath(fromUrl: string, relativeWithoutExtension: string): string {
  return fileURLToPath(siblingModule(fromUrl, relativeWithoutExtension));
}

/**
 * Node flags a child process needs to load sibling modules. tsx is named by
 * its absolute URL: a bare `--import tsx` is resolved from the child's working
 * directory, which need not be this package.
 */
export function loaderExecArgv(): string[] {
  return runningFromSource ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
}

/**
 * file: URL string of the load threads' entry point. From source it is a
 * small .mjs shim that registers tsx inside the thread first: in Node 20,
 * `--import tsx` in a worker's execArgv does not apply to the worker's own modules.
 */
export function workerEntry(): string {
  return new URL(runningFromSource ? './worker-dev.mjs' : './worker.js', import.meta.url).href;
}
