import { render } from 'preact';
import { App } from './app.js';
import './styles.css';

/** Entry of the console bundle (src/console/build.mjs → dist/console/app.js). */
const root = document.getElementById('app')!;
// The static "Loading…" line goes: Preact would render beside it, not over it.
root.textContent = '';
render(<App />, root);
