/**
 * How a child process runs the tsload CLI. Here beside cli.ts rather than in
 * the engine: targets and the testbed spawn the CLI, and the engine has no
 * business knowing the CLI exists.
 */
import { loaderExecArgv, siblingPath } from './engine/module-file.js';

/** argv prefix that runs the tsload CLI in a child process: [node, ...flags, cli]. */
export function cliCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: [...loaderExecArgv(), siblingPath(import.meta.url, './cli')] };
}
