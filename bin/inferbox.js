#!/usr/bin/env node
// The `inferbox` command (docs/cli.md). It runs the built CLI: `npm install` builds dist/ (the
// package's prepare script), and so do `npm run build` and `npm start`.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('inferbox: the CLI is not built yet: run `npm run build` in the inferbox folder\n');
  process.exit(2);
}
await import(main.href);
