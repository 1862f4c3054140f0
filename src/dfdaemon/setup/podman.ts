/**
 * `dfdaemon setup podman`: a drop-in of containers-registries.conf (read by podman, skopeo
 * and buildah) in `registries.conf.d`, naming dfdaemon as the registry's first mirror:
 *
 *   [[registry]]
 *   prefix = "docker.io"
 *   location = "registry-1.docker.io"
 *   [[registry.mirror]]
 *   location = "127.0.0.1:65001"
 *   insecure = true
 *
 * These engines send no `ns=`, so a dfdaemon mirrors one registry for them: its
 * `--registry`. The drop-in is wholly dfdaemon's (other files of the directory are not
 * touched). `--check` asks podman what it resolved (`podman info`: registries and their
 * mirrors, drop-ins applied), and that dfdaemon answers there.
 */
import { join } from 'node:path'
import { DfError } from '../../protocol/errors.js'
import { readOptionalFile, writeWithBackup, BACKUP_SUFFIX } from './files.js'
import { firstLine, type CheckOutcome, type CheckTools, type MirrorSetup, type MirroredRegistry, type SetupReport } from './mirror.js'
import { tomlString } from './toml.js'

export const DEFAULT_REGISTRIES_DIR = '/etc/containers/registries.conf.d'
/** The drop-in's name: after the distribution's own files (drop-ins load in name order, later ones win). */
export const DROP_IN_NAME = 'zz-damselfly-mirror.conf'

/** The mirror as registries.conf names it: host:port, no scheme. */
function mirrorLocation (mirrorUrl: string): string {
  return new URL(mirrorUrl).host
}

/** registries.conf's location of a registry: host[:port] (Docker Hub's real host). */
function registryLocation (registry: MirroredRegistry): string {
  return new URL(registry.serverUrl).host
}

/** The one registry podman's mirror can serve. @throws DF_ERR_CONFIG_INVALID for several */
function onlyRegistry (setup: MirrorSetup): MirroredRegistry {
  const [registry, ...more] = setup.registries
  if (registry === undefined || more.length > 0) {
    throw new DfError('DF_ERR_CONFIG_INVALID', `--registry: podman names no upstream to its mirror (no ns=), so dfdaemon mirrors one registry for it, its --registry (got ${setup.registries.length})`, { details: { field: 'registry' } })
  }
  return registry
}

export function renderRegistriesDropIn (registry: MirroredRegistry, mirrorUrl: string): string {
  return [
    '# dfdaemon setup podman: pulls of this registry go through dfdaemon (the Damselfly swarm) first.',
    '[[registry]]',
    `prefix = ${tomlString(registry.host)}`,
    `location = ${tomlString(registryLocation(registry))}`,
    ...(registry.serverUrl.startsWith('http:') ? ['insecure = true'] : []),
    '[[registry.mirror]]',
    `location = ${tomlString(mirrorLocation(mirrorUrl))}`,
    'insecure = true',
    '',
  ].join('\n')
}

export async function setupPodman (setup: MirrorSetup, registriesDir: string): Promise<SetupReport> {
  const registry = onlyRegistry(setup)
  const path = join(registriesDir, DROP_IN_NAME)
  const before = await readOptionalFile(path)
  const outcome = await writeWithBackup(path, before, renderRegistriesDropIn(registry, setup.mirrorUrl))
  return { lines: [`${outcome} ${path}${outcome === 'updated' ? ` (the old one is ${path}${BACKUP_SUFFIX})` : ''}: ${registry.host} through ${setup.mirrorUrl}`] }
}

/** Whether podman's resolved registries put the mirror first for the registry. */
export async function checkPodman (setup: MirrorSetup, tools: CheckTools): Promise<CheckOutcome> {
  const registry = onlyRegistry(setup)
  const info = await tools.run('podman', ['info', '--format', '{{json .Registries}}'])
  if (info.code !== 0) return { inEffect: false, missing: `podman info failed: ${info.code === 127 ? 'podman is not installed' : firstLine(info.stderr) || firstLine(info.stdout)}` }
  let registries: Record<string, { Mirrors?: { Location?: string }[] | null } | undefined>
  try {
    registries = JSON.parse(info.stdout) as typeof registries // read field by field below
  } catch {
    return { inEffect: false, missing: `podman info printed no registries: ${firstLine(info.stdout)}` }
  }
  const first = registries[registry.host]?.Mirrors?.[0]?.Location
  const wanted = mirrorLocation(setup.mirrorUrl)
  if (first !== wanted) {
    return { inEffect: false, missing: `podman's first mirror of ${registry.host} is ${first === undefined ? 'none' : first}, not ${wanted}` }
  }
  if (!await tools.ping(setup.mirrorUrl)) return { inEffect: false, missing: `dfdaemon does not answer at ${setup.mirrorUrl}` }
  return { inEffect: true, detail: `podman pulls ${registry.host} through ${setup.mirrorUrl}` }
}
