/**
 * The one place that decides how code loaded in another thread or process is
 * found. Built code (dist/*.js) loads siblings as .js. Source run under tsx or
 * vitest (src/*.ts) loads siblings as .ts, and a new thread or process needs
 * tsx's loader because Node 20 cannot load TypeScript itself (and vitest does
 * not transform files that worker threads load).
 */
import { fileURLToPath } from 'node:url';

const runningFromSource = import.meta.url.endsWith('.ts');

/** file: URL string of a module beside `fromUrl`, e.g. siblingModule(import.meta.url, '../drivers/http'). */
export function siblingModule(fromUrl: string, relativeWithoutExtension: string): string {
  return new URL(`${relativeWithoutExtension}${runningFromSource ? '.ts' : '.js'}`, fromUrl).href;
}

/** Filesystem path of such a module (for child processes). */
export function siblingPath(fromUrl: string, relativeWithoutExtension: string): string {
  return fileURLToPath(siblingModule(fromUrl, relativeWithoutExtension));
}

/** Node flags a worker thread or child process needs to load sibling modules. */
export function loaderExecArgv(): string[] {
  return runningFromSource ? ['--import', 'tsx'] : [];
}

/** argv prefix that runs the tsload CLI in a child process: [node, ...flags, cli]. */
export function cliCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: [...loaderExecArgv(), siblingPath(import.meta.url, '../cli')] };
}
