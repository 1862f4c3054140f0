#!/usr/bin/env node
// Bundles dfget (dist/dfget/main.js and what it imports, node_modules included) into
// dist/dfget-bundle/, which bin/dfget runs. dfget is the program a host starts most often,
// several at once on a busy machine, and its start-up is mostly Node finding, reading and
// compiling a few hundred module files: bundled, a download with a running peer server
// costs about 190 ms of CPU instead of 280, and a peer server starts faster too (it is
// dfget's own `server` command). Code splitting keeps the lazy imports lazy: `dfget server`
// does not load the download path, a plain download does not load fastify.
// The library entry points (dist/dfget/index.js, used by dfdaemon in process) stay unbundled.
import { build } from 'esbuild'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const out = join(root, 'dist/dfget-bundle')

await rm(out, { recursive: true, force: true })
await build({
  entryPoints: { dfget: join(root, 'dist/dfget/main.js') },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: out,
  chunkNames: 'chunk-[hash]',
  // CommonJS dependencies (pino ...) call require(): give every output file one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
})
