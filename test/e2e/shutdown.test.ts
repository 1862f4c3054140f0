/**
 * Daemons stop on SIGTERM even when nobody reads their output any more (the supervisor's
 * log pipe went away): pino's flush at exit used to retry the broken pipe for ever.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { BIN } from '../harness/processes.js'
import { createTmpDir } from '../harness/tmp-dir.js'

for (const [name, args, ready] of [
  ['supernode', (home: string) => ['--port', '0', '--download-port', '0', '--listen', '127.0.0.1', '--home-dir', home], /supernode ready/],
  ['dfdaemon', (home: string) => ['--port', '0', '--listen', '127.0.0.1', '--registry', 'http://127.0.0.1:9', '--no-prefetch', '--home', home], /dfdaemon ready/],
] as const) {
  test(`${name} exits on SIGTERM after the reader of its stdout and stderr went away`, async (t) => {
    const dir = await createTmpDir(`damselfly-shutdown-${name}-`)
    t.after(() => dir.close())
    const child = spawn(BIN(name), args(join(dir.path, 'home')), { stdio: ['ignore', 'pipe', 'pipe'] })
    t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
    const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
    await new Promise<void>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); if (ready.test(out)) resolve() })
      child.once('exit', () => { reject(new Error(`${name} exited before it was ready: ${out}`)) })
    })
    // The reader goes: our ends of both pipes close, so the daemon's next write is EPIPE.
    child.stdout.destroy()
    child.stderr.destroy()
    child.kill('SIGTERM')
    const code = await Promise.race([exited, new Promise<'hung'>((resolve) => { setTimeout(() => { resolve('hung') }, 8_000).unref() })])
    assert.equal(code, 0, `${name} did not exit within 8 s of SIGTERM`)
  })
}
