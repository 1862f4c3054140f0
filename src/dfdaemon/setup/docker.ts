/**
 * `dfdaemon setup docker`: dfdaemon's URL first in `registry-mirrors` of Docker's
 * daemon.json, every other key kept as it was. Docker applies mirrors to Docker Hub
 * (`docker.io`) images only and sends no `ns=`, so the dfdaemon it uses mirrors one
 * registry: its `--registry` (https://registry-1.docker.io for Docker Hub).
 *
 * dockerd reads daemon.json at start (and `registry-mirrors` again on SIGHUP), so `--check`
 * asks the running daemon what it uses (`docker info`: Registry Mirrors) rather than the
 * file, and that dfdaemon answers there.
 */
import { readOptionalFile, writeWithBackup, BACKUP_SUFFIX } from './files.js'
import { firstLine, sameMirrorUrl, type CheckOutcome, type CheckTools, type MirrorSetup, type SetupReport } from './mirror.js'
import { DfError } from '../../protocol/errors.js'

export const DEFAULT_DAEMON_JSON = '/etc/docker/daemon.json'

/**
 * daemon.json's text with `mirrorUrl` in `registry-mirrors` (first when added); the text
 * unchanged when it is there already. @throws DF_ERR_CONFIG_INVALID when the file is not a JSON object
 */
export function addRegistryMirror (text: string | undefined, mirrorUrl: string, name: string): string {
  let settings: Record<string, unknown> = {}
  if (text !== undefined && text.trim() !== '') {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new DfError('DF_ERR_CONFIG_INVALID', `${name}: not valid JSON: ${(err as Error).message}`, { details: { field: name } })
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new DfError('DF_ERR_CONFIG_INVALID', `${name}: not a JSON object`, { details: { field: name } })
    settings = parsed as Record<string, unknown> // checked to be a plain object just above
  }
  const mirrors = settings['registry-mirrors'] ?? []
  if (!Array.isArray(mirrors) || !mirrors.every((m) => typeof m === 'string')) throw new DfError('DF_ERR_CONFIG_INVALID', `${name}: registry-mirrors must be a list of URLs`, { details: { field: 'registry-mirrors' } })
  if (text !== undefined && mirrors.some((m: string) => sameMirrorUrl(m, mirrorUrl))) return text
  settings['registry-mirrors'] = [mirrorUrl, ...mirrors]
  return `${JSON.stringify(settings, null, 2)}\n`
}

export async function setupDocker (setup: MirrorSetup, daemonJson: string): Promise<SetupReport> {
  const before = await readOptionalFile(daemonJson)
  const outcome = await writeWithBackup(daemonJson, before, addRegistryMirror(before, setup.mirrorUrl, daemonJson))
  const backup = outcome === 'updated' ? ` (the old one is ${daemonJson}${BACKUP_SUFFIX})` : ''
  const apply = outcome === 'unchanged' ? '' : '; dockerd applies it when restarted or sent SIGHUP'
  return { lines: [`${outcome} ${daemonJson}${backup}: registry-mirrors has ${setup.mirrorUrl}${apply}`] }
}

/** Whether the running dockerd uses the mirror (`docker info`), and dfdaemon answers there. */
export async function checkDocker (setup: MirrorSetup, tools: CheckTools): Promise<CheckOutcome> {
  const info = await tools.run('docker', ['info', '--format', '{{json .RegistryConfig.Mirrors}}'])
  if (info.code !== 0) return { inEffect: false, missing: `docker info failed: ${info.code === 127 ? 'docker is not installed' : firstLine(info.stderr) || firstLine(info.stdout)}` }
  let mirrors: unknown
  try {
    mirrors = JSON.parse(info.stdout.trim() || 'null')
  } catch {
    return { inEffect: false, missing: `docker info printed no list of registry mirrors: ${firstLine(info.stdout)}` }
  }
  const list = Array.isArray(mirrors) ? mirrors.filter((m): m is string => typeof m === 'string') : []
  if (!list.some((m) => sameMirrorUrl(m, setup.mirrorUrl))) {
    return { inEffect: false, missing: `dockerd's Registry Mirrors (${list.length === 0 ? 'none' : list.join(', ')}) do not include ${setup.mirrorUrl}` }
  }
  if (!await tools.ping(setup.mirrorUrl)) return { inEffect: false, missing: `dfdaemon does not answer at ${setup.mirrorUrl}` }
  return { inEffect: true, detail: `dockerd pulls docker.io images through ${setup.mirrorUrl}` }
}
