/**
 * `npm run build` (and so `npm start` and `npm test`): the three bundles, each by esbuild, in about
 * a second in all. Type-checking is separate: `npm run typecheck`.
 *   dist/sandbox/prelude.js   the code isolates run before a script   (sandbox/build.mjs)
 *   dist/console/             the web console                         (src/console/build.mjs)
 *   dist/src/                 the server, one .js per .ts             (tools/build-server.mjs)
 */
await import('../sandbox/build.mjs');
await import('../src/console/build.mjs');
await import('./build-server.mjs');
