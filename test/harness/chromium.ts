/**
 * startChromium(): Debian's headless Chromium (`/usr/bin/chromium`, or $CHROMIUM_PATH) as
 * a child process we own, with a fresh profile and no background networking, driven by
 * playwright-core over the DevTools protocol. We start it ourselves (not playwright's
 * launcher) so that its PID is ours to kill and its flags are exactly these: this machine's
 * network is closed, and Chromium's own update/sync/safe-browsing connections would only
 * fail. `close()` closes the browser, then kills its process group.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { access } from 'node:fs/promises'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export interface StartedChromium {
  readonly browser: Browser
  readonly pid: number
  close(): Promise<void>
}

/** True when the Chromium binary exists (CI installs it: .ci/run). */
export async function hasChromium (): Promise<boolean> {
  try { await access(CHROMIUM_PATH); return true } catch { return false }
}

export async function startChromium (userDataDir: string, timeoutMs = 20_000): Promise<StartedChromium> {
  const child = spawn(CHROMIUM_PATH, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--no-default-browser-check',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions',
    '--disable-default-apps', '--metrics-recording-only', '--mute-audio', '--hide-scrollbars',
    `--user-data-dir=${userDataDir}`, '--remote-debugging-port=0', '--remote-debugging-address=127.0.0.1', 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start ${CHROMIUM_PATH}`)
  let browser: Browser | undefined
  const kill = async (): Promise<void> => { await killGroup(child, pid) }
  try {
    const endpoint = await readDevToolsEndpoint(child, timeoutMs)
    browser = await chromium.connectOverCDP(endpoint, { timeout: timeoutMs })
  } catch (err) {
    await kill()
    throw err
  }
  const connected = browser
  let closing: Promise<void> | undefined
  return {
    browser: connected,
    pid,
    close: async () => {
      closing ??= (async () => {
        try { await connected.close() } catch { /* the process may be gone already */ }
        await kill()
      })()
      await closing
    },
  }
}

/** Waits for "DevTools listening on ws://…" on stderr. */
async function readDevToolsEndpoint (child: ChildProcess, timeoutMs: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    let stderr = ''
    const timer = setTimeout(() => { finish(new Error(`chromium printed no DevTools address in ${timeoutMs} ms: ${stderr.slice(-2000)}`)) }, timeoutMs)
    const onData = (chunk: Buffer): void => {
      stderr += chunk.toString()
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr)
      if (match?.[1] !== undefined) finish(undefined, match[1])
    }
    const onExit = (code: number | null): void => { finish(new Error(`chromium exited with ${code}: ${stderr.slice(-2000)}`)) }
    const finish = (err: Error | undefined, endpoint?: string): void => {
      clearTimeout(timer)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
      // Keep draining stderr so a chatty browser never blocks on a full pipe.
      child.stderr?.resume()
      if (err !== undefined) reject(err)
      else resolve(endpoint ?? '')
    }
    child.stderr?.on('data', onData)
    child.once('exit', onExit)
  })
}

/** SIGTERM to the browser's process group (renderers, zygote), SIGKILL after 3 s. */
async function killGroup (child: ChildProcess, pid: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
  try { process.kill(-pid, 'SIGTERM') } catch { return }
  const timer = setTimeout(() => { try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ } }, 3_000)
  await exited
  clearTimeout(timer)
}
