#!/usr/bin/env node
// Launcher for the operator CLI: registers tsx so the TypeScript sources run as they are,
// then hands over to main.ts. `npm run cli -- <command>` or, once linked, `log-reflector`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv);
