#!/usr/bin/env node
// Runs every test file (src/**/*.test.ts, test/**/*.test.ts, web/**/*.test.ts) with node:test, loading
// TypeScript through tsx. Node 20 neither strips types nor expands globs for --test, so the
// list is built here. Arguments narrow the run: `npm test -- src/supernode` runs the files
// whose path contains any argument. The build (dist/) must exist: end-to-end tests run the
// bin/ executables, which load dist/.
import { readdirSync, statSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawnSync } from 'node:child_process'

const root = new URL('..', import.meta.url).pathname
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const passThrough = process.argv.slice(2).filter((a) => a.startsWith('--'))

function walk (dir, out) {
  if (!existsSync(dir)) return out
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path, out)
    else if (name.endsWith('.test.ts')) out.push(relative(root, path))
  }
  return out
}

const files = [...walk(join(root, 'src'), []), ...walk(join(root, 'test'), []), ...walk(join(root, 'web'), [])]
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
if (files.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}
if (!existsSync(join(root, 'dist')) || !existsSync(join(root, 'dist/dfget-bundle/dfget.js'))) {
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
  if (build.status !== 0) process.exit(build.status ?? 1)
}
const result = spawnSync(process.execPath, [
  '--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=240000', ...passThrough, ...files,
], { cwd: root, stdio: 'inherit' })
process.exit(result.status ?? 1)
