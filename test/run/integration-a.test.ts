import { runGroup } from './groups.js';

await runGroup('integration', 'a');
