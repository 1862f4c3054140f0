#!/usr/bin/env node
// Builds the swarm dashboard (web/dashboard: plain TypeScript and CSS) into dist/dashboard/,
// where the supernode serves it: the page at `/`, its two files under /dashboard/assets/.
// esbuild bundles main.ts and the CSS it imports; index.html gets the bundle's names
// (content-hashed, so browsers never keep a stale copy). Nothing is fetched from anywhere
// but the supernode. (Vite was used first; its rollup platform packages are missing from
// the npm registry this project installs from, which breaks `npm ci`.)
import { build } from 'esbuild'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const source = join(root, 'web/dashboard')
const out = join(root, 'dist/dashboard')

await rm(out, { recursive: true, force: true })
await mkdir(join(out, 'assets'), { recursive: true })
const result = await build({
  entryPoints: { index: join(source, 'src/main.ts') },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
})
const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path))
const script = outputs.find((name) => name.endsWith('.js'))
const style = outputs.find((name) => name.endsWith('.css'))
if (script === undefined) throw new Error('dashboard build produced no script')
let html = await readFile(join(source, 'index.html'), 'utf8')
const entry = /<script type="module" src="\.\/src\/main\.ts"><\/script>/
if (!entry.test(html)) throw new Error('web/dashboard/index.html: the script tag of src/main.ts is missing')
const tags = [
  `<script type="module" crossorigin src="/dashboard/assets/${script}"></script>`,
  ...(style === undefined ? [] : [`<link rel="stylesheet" crossorigin href="/dashboard/assets/${style}">`]),
].join('\n    ')
html = html.replace(entry, tags)
await writeFile(join(out, 'index.html'), html)
console.error(`dashboard: built ${outputs.join(', ')} into dist/dashboard`)
