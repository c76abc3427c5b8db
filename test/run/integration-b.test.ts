import { runGroup } from './groups.js';

await runGroup('integration', 'b');
