import { runGroup } from './groups.js';

await runGroup('unit', 'rest');
