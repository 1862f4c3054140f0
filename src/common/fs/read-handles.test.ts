import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '../clock.js'
import { ReadHandles } from './read-handles.js'

async function tempFile (t: import('node:test').TestContext, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'df-read-handles-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'f')
  await writeFile(path, text)
  return path
}

test('a file is opened once for many reads; forget closes it after the reads in flight; a new file at the path is read anew', async (t) => {
  const path = await tempFile(t, 'first')
  const handles = new ReadHandles({ clock: new ManualClock() })
  t.after(() => handles.close())
  const a = await handles.acquire(path)
  const b = await handles.acquire(path)
  assert.equal(a.handle, b.handle)
  assert.equal(handles.size, 1)
  handles.forget(path)
  assert.equal(handles.size, 0)
  // Still open for the reads that hold it.
  const buffer = Buffer.alloc(5)
  await a.handle.read(buffer, 0, 5, 0)
  assert.equal(buffer.toString(), 'first')
  a.release()
  b.release()
  await rm(path)
  await writeFile(path, 'other')
  const c = await handles.acquire(path)
  assert.notEqual(c.handle, a.handle)
  await c.handle.read(buffer, 0, 5, 0)
  assert.equal(buffer.toString(), 'other')
  c.release()
  await assert.rejects(handles.acquire(join(path, 'missing')), (err: NodeJS.ErrnoException) => err.code === 'ENOTDIR' || err.code === 'ENOENT')
  assert.equal(handles.size, 1)
})

test('a handle unused for idleMs is closed; one in use is kept', async (t) => {
  const path = await tempFile(t, 'x')
  const clock = new ManualClock()
  const handles = new ReadHandles({ clock }, { idleMs: 1_000 })
  t.after(() => handles.close())
  const lent = await handles.acquire(path)
  clock.advance(1_500)
  assert.equal(handles.size, 1, 'in use')
  lent.release()
  clock.advance(1_000)
  clock.advance(1_000)
  assert.equal(handles.size, 0, 'idle handles close')
})
