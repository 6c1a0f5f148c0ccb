/** Every workflow type the workers register; the bundler starts from this file. */
export * from './smoke.ts';
