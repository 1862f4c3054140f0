/**
 * The external tools the swarm lab runs, and the Debian packages that bring them. Missing
 * ones are installed with apt-get (the lab runs as root anyway); when that is impossible the
 * error names the exact install command.
 */
import { runCommand } from './lab.js'
import type { SystemName } from './context.js'

/** Command → Debian package. */
const TOOLS: Record<string, string> = {
  ip: 'iproute2',
  tc: 'iproute2',
  curl: 'curl',
  aria2c: 'aria2',
  mktorrent: 'mktorrent',
  opentracker: 'opentracker',
}

/** The commands the given systems need (the lab itself needs ip, tc and curl). */
export function toolsFor (systems: readonly SystemName[]): string[] {
  const tools = ['ip', 'tc', 'curl']
  if (systems.includes('bittorrent')) tools.push('aria2c', 'mktorrent', 'opentracker')
  return tools
}

async function hasCommand (command: string): Promise<boolean> {
  const result = await runCommand('sh', ['-c', `command -v ${command}`])
  return result.exitCode === 0
}

/**
 * Makes sure every command is on PATH, installing the packages of the missing ones.
 * @throws with the apt-get command to run when the install fails
 */
export async function ensureTools (commands: readonly string[], log: (message: string) => void): Promise<void> {
  const missing: string[] = []
  for (const command of commands) if (!(await hasCommand(command))) missing.push(command)
  if (missing.length === 0) return
  const packages = [...new Set(missing.map((c) => TOOLS[c] ?? c))]
  const install = ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...packages]
  log(`installing ${packages.join(' ')} (missing: ${missing.join(', ')})`)
  let result = await runCommand('apt-get', install, { ...process.env, DEBIAN_FRONTEND: 'noninteractive' })
  if (result.exitCode !== 0) {
    // The package lists may be missing or stale on a fresh machine.
    await runCommand('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update', '-qq'])
    result = await runCommand('apt-get', install, { ...process.env, DEBIAN_FRONTEND: 'noninteractive' })
  }
  const still: string[] = []
  for (const command of missing) if (!(await hasCommand(command))) still.push(command)
  if (still.length > 0) {
    throw new Error(`missing ${still.join(', ')}; install them with: apt-get install -y --no-install-recommends ${packages.join(' ')}\n${result.stderr.trim().slice(-1000)}`)
  }
}
