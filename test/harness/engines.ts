/**
 * Container engines as test daemons (containerd, dockerd): started with the caller's
 * private config (roots, state and sockets under a temp dir), ready once their socket
 * answers, stopped by PID (SIGTERM, then SIGKILL), also when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { readFile } from 'node:fs/promises'
import { stopChild } from './processes.js'

export interface DaemonProcess {
  readonly child: ChildProcess
  output(): string
  close(): Promise<void>
}

/**
 * Starts `command args` and waits until `socketPath` accepts connections (30 s at most).
 * At close, mounts the daemon left under `mountRoot` (dockerd bind-mounts its data-root)
 * are unmounted, so the temp dir can be removed.
 */
export async function startDaemonProcess (command: string, args: readonly string[], socketPath: string, mountRoot?: string): Promise<DaemonProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString()).slice(-8000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code) => { reject(new Error(`${command} exited with ${code}: ${output}`)) })
  })
  exited.catch(() => undefined)
  const deadline = Date.now() + 30_000
  for (;;) {
    const ready = await Promise.race([canConnect(socketPath), exited])
    if (ready) break
    if (Date.now() > deadline) { await stopChild(child); throw new Error(`${command} did not open ${socketPath}: ${output}`) }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    child,
    output: () => output,
    close: async () => {
      await stopChild(child, 10_000)
      if (mountRoot !== undefined) await unmountUnder(mountRoot)
    },
  }
}

async function canConnect (socketPath: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(socketPath)
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}

/** Unmounts every mount point at or below `root`, deepest first. */
async function unmountUnder (root: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8')).split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point === root || point.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length)
  for (const point of mounts) {
    await new Promise<void>((resolve) => { spawn('umount', ['-l', point], { stdio: 'ignore' }).once('exit', () => { resolve() }) })
  }
}
