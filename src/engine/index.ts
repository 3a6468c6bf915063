export { Vivarium } from './vivarium.js';
export type { VivariumOptions, CreateSessionOptions, RunOptions } from './vivarium.js';
