import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, constants, fstatSync, openSync } from 'node:fs'
import { Socket } from 'node:net'
import { join } from 'node:path'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { stopChild } from '../../../test/harness/processes.js'
import { openStdoutPipe, parseStdoutPipe } from './stdout-pipe.js'

/** A child whose stdout is `fd` (it sleeps until stopped). */
function childWithStdout (fd: number): ReturnType<typeof spawn> {
  return spawn('sleep', ['60'], { stdio: ['ignore', fd, 'ignore'] })
}

test('the agent takes a client\'s stdout pipe only when it is the pipe the client named: a FIFO with its device and inode', async (t) => {
  const dir = await createTmpDir('df-stdout-pipe-')
  t.after(() => dir.close())
  const fifo = join(dir.path, 'out.fifo')
  execFileSync('mkfifo', [fifo])
  // The reader first (non-blocking), then the write end the child gets as its stdout.
  const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
  const reader = new Socket({ fd: readFd, readable: true, writable: false })
  t.after(() => { reader.destroy() })
  const writeFd = openSync(fifo, constants.O_WRONLY)
  const { dev, ino } = fstatSync(writeFd)
  const child = childWithStdout(writeFd)
  closeSync(writeFd)
  t.after(() => stopChild(child))
  const pid = child.pid ?? 0
  await new Promise((resolve) => child.once('spawn', resolve))

  const wrongInode = await openStdoutPipe({ pid, dev, ino: ino + 1 })
  assert.equal(wrongInode, undefined, 'another inode: not taken')
  const otherPid = await openStdoutPipe({ pid: process.pid === 1 ? 2 : 1, dev, ino })
  assert.equal(otherPid, undefined, 'another process (another user\'s, or a pipe elsewhere): not taken')

  const pipe = await openStdoutPipe({ pid, dev, ino })
  assert.ok(pipe !== undefined, 'the named pipe is taken')
  const received: Buffer[] = []
  reader.on('data', (chunk: Buffer) => { received.push(chunk) })
  const ended = new Promise((resolve) => reader.once('end', resolve))
  await new Promise<void>((resolve) => { pipe.end(Buffer.from('bytes from the agent'), resolve) })
  pipe.destroy()
  await stopChild(child)
  // The child's end and ours are closed: the reader sees the end of the data.
  await ended
  assert.equal(Buffer.concat(received).toString(), 'bytes from the agent')
})

test('a stdout that is a file is never taken, and a malformed pipe field is ignored', async (t) => {
  const dir = await createTmpDir('df-stdout-file-')
  t.after(() => dir.close())
  const fd = openSync(join(dir.path, 'out.bin'), 'w')
  const { dev, ino } = fstatSync(fd)
  const child = childWithStdout(fd)
  closeSync(fd)
  t.after(() => stopChild(child))
  await new Promise((resolve) => child.once('spawn', resolve))
  assert.equal(await openStdoutPipe({ pid: child.pid ?? 0, dev, ino }), undefined)

  assert.equal(parseStdoutPipe(undefined), undefined)
  assert.equal(parseStdoutPipe({ pid: 0, dev: 1, ino: 2 }), undefined)
  assert.equal(parseStdoutPipe({ pid: '12', dev: 1, ino: 2 }), undefined)
  assert.equal(parseStdoutPipe({ pid: 12, dev: -1, ino: 2 }), undefined)
  assert.deepEqual(parseStdoutPipe({ pid: 12, dev: 1, ino: 2, extra: true }), { pid: 12, dev: 1, ino: 2 })
})

test('a pipe of another user\'s process is not taken, even named right (an agent running as root writes only into root\'s processes)', { skip: process.getuid?.() !== 0 ? 'needs root to start a process as another user' : false }, async (t) => {
  const dir = await createTmpDir('df-stdout-user-')
  t.after(() => dir.close())
  const fifo = join(dir.path, 'out.fifo')
  execFileSync('mkfifo', [fifo])
  const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
  t.after(() => { closeSync(readFd) })
  const writeFd = openSync(fifo, constants.O_WRONLY)
  const { dev, ino } = fstatSync(writeFd)
  // nobody's process, its stdout the FIFO (the descriptor is inherited: no permission needed).
  const child = spawn('sleep', ['60'], { stdio: ['ignore', writeFd, 'ignore'], uid: 65534, gid: 65534 })
  closeSync(writeFd)
  t.after(() => stopChild(child))
  await new Promise((resolve) => child.once('spawn', resolve))
  assert.equal(await openStdoutPipe({ pid: child.pid ?? 0, dev, ino }), undefined)
})
