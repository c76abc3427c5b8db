/**
 * The `inferbox` command's entry (bin/inferbox.js imports the built file): runs the command line and
 * sets the exit code (docs/cli.md#errors-and-exit-codes). `inferbox serve` keeps the process up serving.
 */
import { run } from './program.js';

// `inferbox models | head -1`: a reader that stops early is no error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
