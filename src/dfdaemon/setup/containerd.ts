/**
 * `dfdaemon setup containerd`: a `hosts.toml` per mirrored registry in containerd's hosts
 * directory (`<hosts-dir>/<registry host>/hosts.toml`), naming dfdaemon first:
 *
 *   server = "https://registry.example"
 *   [host."http://127.0.0.1:65001"]
 *     capabilities = ["pull", "resolve"]
 *
 * containerd adds `ns=<registry host>` to every request it sends to a mirror, which is how
 * one dfdaemon serves several registries. Other registries' directories are not touched;
 * other `[host]` entries of a registry's file are kept after dfdaemon's (its `server` too).
 *
 * `--check` reads containerd's resolved configuration (`containerd --config FILE config
 * dump`): the CRI registry's `config_path` must name the hosts directory (that is where
 * containerd looks for hosts.toml files), each registry's hosts.toml must name the mirror
 * with pull and resolve, and dfdaemon must answer there.
 */
import { join } from 'node:path'
import { formatKeyPath, formatTomlValue, parseToml, tomlString, type TomlSection } from './toml.js'
import { readOptionalFile, writeWithBackup, BACKUP_SUFFIX } from './files.js'
import { firstLine, sameMirrorUrl, type CheckOutcome, type CheckTools, type MirrorSetup, type MirroredRegistry, type SetupReport } from './mirror.js'

/** containerd's default hosts directory and configuration file. */
export const DEFAULT_HOSTS_DIR = '/etc/containerd/certs.d'
export const DEFAULT_CONTAINERD_CONFIG = '/etc/containerd/config.toml'

const CAPABILITIES = ['pull', 'resolve'] as const
/** The first line of a file this command wrote. */
const MARKER = '# dfdaemon setup containerd'
/** containerd's CRI plugin, whose registry.config_path names the hosts directory. */
const CRI_REGISTRY = ['plugins', 'io.containerd.grpc.v1.cri', 'registry']

export function hostsTomlPath (hostsDir: string, registry: MirroredRegistry): string {
  return join(hostsDir, registry.host, 'hosts.toml')
}

/**
 * The hosts.toml of `registry` naming `mirrorUrl` first; `existing` (a file already there)
 * keeps its `server` and its other `[host]` entries after dfdaemon's.
 * @throws DF_ERR_CONFIG_INVALID when `existing` is not TOML this module reads
 */
export function renderHostsToml (registry: MirroredRegistry, mirrorUrl: string, existing?: { text: string, name: string }): string {
  const sections = existing === undefined ? [] : parseToml(existing.text, existing.name)
  // A file this command wrote names its old mirror first (another port): that entry goes.
  const ours = existing?.text.startsWith(MARKER) === true ? sections.find((s) => !s.arrayEntry && s.path.length === 2 && s.path[0] === 'host') : undefined
  const top = sections.find((s) => s.path.length === 0)
  const server = top?.values.get('server')
  const lines = [
    `${MARKER}: pulls of this registry go through dfdaemon (the Damselfly swarm) first.`,
    `server = ${tomlString(typeof server === 'string' ? server : registry.serverUrl)}`,
  ]
  for (const [key, value] of top?.values ?? []) if (key !== 'server') lines.push(`${key} = ${formatTomlValue(value)}`)
  lines.push('', `[${formatKeyPath(['host', mirrorUrl])}]`, `  capabilities = ${formatTomlValue([...CAPABILITIES])}`)
  for (const section of sections) {
    if (section.path.length === 0 || section === ours || isMirrorSection(section, mirrorUrl)) continue
    const open = section.arrayEntry ? '[[' : '['
    const close = section.arrayEntry ? ']]' : ']'
    lines.push('', `${open}${formatKeyPath(section.path)}${close}`)
    for (const [key, value] of section.values) lines.push(`  ${key} = ${formatTomlValue(value)}`)
  }
  return `${lines.join('\n')}\n`
}

/** Whether a hosts.toml names `mirrorUrl` with the pull and resolve capabilities. */
export function hostsTomlUsesMirror (text: string, name: string, mirrorUrl: string): boolean {
  return parseToml(text, name).some((section) => {
    if (!isMirrorSection(section, mirrorUrl)) return false
    const capabilities = section.values.get('capabilities')
    // containerd's default, without the key, is every capability.
    return capabilities === undefined || (Array.isArray(capabilities) && CAPABILITIES.every((c) => capabilities.includes(c)))
  })
}

/** Writes the hosts.toml of every registry. */
export async function setupContainerd (setup: MirrorSetup, hostsDir: string): Promise<SetupReport> {
  const lines: string[] = []
  for (const registry of setup.registries) {
    const path = hostsTomlPath(hostsDir, registry)
    const before = await readOptionalFile(path)
    const content = before !== undefined && hostsTomlUsesMirror(before, path, setup.mirrorUrl) && before.startsWith(MARKER)
      ? before
      : renderHostsToml(registry, setup.mirrorUrl, before === undefined ? undefined : { text: before, name: path })
    const outcome = await writeWithBackup(path, before, content)
    lines.push(`${outcome} ${path}${outcome === 'updated' ? ` (the old one is ${path}${BACKUP_SUFFIX})` : ''}: ${registry.host} through ${setup.mirrorUrl}`)
  }
  return { lines }
}

/** Whether containerd really uses the mirror for every registry; the first thing missing otherwise. */
export async function checkContainerd (setup: MirrorSetup, hostsDir: string, containerdConfig: string, tools: CheckTools): Promise<CheckOutcome> {
  const dump = await tools.run('containerd', ['--config', containerdConfig, 'config', 'dump'])
  if (dump.code !== 0) return { inEffect: false, missing: `containerd cannot read its configuration ${containerdConfig}: ${dump.code === 127 ? 'containerd is not installed' : firstLine(dump.stderr)}` }
  const registry = parseToml(dump.stdout, 'containerd config dump', { lenient: true }).find((s) => samePath(s.path, CRI_REGISTRY))
  const configPath = registry?.values.get('config_path')
  const dirs = typeof configPath === 'string' ? configPath.split(':').filter((d) => d !== '').map(trimSlash) : []
  if (!dirs.includes(trimSlash(hostsDir))) {
    return { inEffect: false, missing: `containerd's ${containerdConfig} does not set plugins."io.containerd.grpc.v1.cri".registry.config_path to ${hostsDir} (it is ${JSON.stringify(configPath ?? '')})` }
  }
  for (const mirrored of setup.registries) {
    const path = hostsTomlPath(hostsDir, mirrored)
    const text = await readOptionalFile(path)
    if (text === undefined) return { inEffect: false, missing: `${path} does not exist (dfdaemon setup containerd writes it)` }
    if (!hostsTomlUsesMirror(text, path, setup.mirrorUrl)) return { inEffect: false, missing: `${path} does not name the mirror ${setup.mirrorUrl} with capabilities pull and resolve` }
  }
  if (!await tools.ping(setup.mirrorUrl)) return { inEffect: false, missing: `dfdaemon does not answer at ${setup.mirrorUrl}` }
  return { inEffect: true, detail: `containerd pulls ${setup.registries.map((r) => r.host).join(', ')} through ${setup.mirrorUrl} (config_path ${hostsDir})` }
}

function isMirrorSection (section: TomlSection, mirrorUrl: string): boolean {
  return !section.arrayEntry && section.path.length === 2 && section.path[0] === 'host' && sameMirrorUrl(section.path[1] ?? '', mirrorUrl)
}

function samePath (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i])
}

function trimSlash (dir: string): string {
  return dir.length > 1 ? dir.replace(/\/+$/, '') : dir
}
