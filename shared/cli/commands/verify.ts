import type { Command } from 'commander';

/** Registers this command group on the CLI. (Filled in by the issue that owns it.) */
export function register(_program: Command): void {}
