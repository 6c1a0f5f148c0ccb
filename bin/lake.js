#!/usr/bin/env node
// Entry for `npx lake …`: registers tsx so the TypeScript sources run without a build step.
import { register } from 'tsx/esm/api';

// `lake infra status | head` closes the pipe early; that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
