#!/usr/bin/env node
// `prepare`: builds dist/ (npm ci, npm install, npm pack, npm install -g <folder>). npm runs
// `prepare` of a folder installed globally before, and without, its devDependencies, so
// when the build tools are missing this first installs them into the package's own
// node_modules (devDependencies included, nothing saved), then builds. A global install
// from a clean clone thus ends with dist/ built and the three commands on PATH.
import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function run (args) {
  const result = spawnSync(npm, args, { cwd: root, stdio: 'inherit', env: { ...process.env, npm_config_global: 'false' } })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

if (!existsSync(join(root, 'node_modules', 'typescript', 'bin', 'tsc'))) {
  process.stderr.write('prepare: build tools missing; installing them into node_modules (devDependencies included)\n')
  run(['install', '--include=dev', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'])
}
run(['run', 'build'])
