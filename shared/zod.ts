/**
 * `zod/mini` with English error messages. The runtimes import zod from here, never from
 * `zod/mini` directly: zod/mini loads no locale, so without this every issue reads only
 * "Invalid input" (the English locale adds ~3 KB to a bundle and names what was expected,
 * e.g. "Too small: expected string to have >=3 characters").
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
