/**
 * deploy/kubernetes/: the kustomize base rendered as `kustomize build` renders it (its
 * namespace and images; any other kustomization key is refused, so none is silently
 * skipped), then every object validated offline against the Kubernetes API's schemas, twice:
 *
 * - kubernetes-models: JSON-schema validators generated from the Kubernetes OpenAPI document
 *   (types, required fields, enums, formats such as int32 and int-or-string);
 * - kubernetes-types: the API's types, generated from the same document, checked by the
 *   TypeScript compiler — its excess-property check refuses unknown or misplaced fields, as
 *   the API server's strict field validation (kubectl's default) does.
 *
 * Then what the schemas cannot know: the wiring of the objects (the headless Service of the
 * StatefulSet, the ConfigMaps and keys the pods mount, the per-pod DNS names in the clients'
 * supernode lists, probes on /_ping, Prometheus annotations on a declared port, requests and
 * limits on every container), and every configuration file in the ConfigMaps through its
 * program's own `config check`. Each validator must refuse a broken copy (negative checks).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import ts from 'typescript'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { ROOT, runToExit } from './harness/processes.js'
import { createTmpDir } from './harness/tmp-dir.js'
import { parseNodeList } from '../src/common/node-list.js'

const BASE = join(ROOT, 'deploy/kubernetes')

// Kubernetes objects are open JSON here: the validators below are what types them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type K8sObject = Record<string, any>
interface Rendered { readonly file: string, readonly object: K8sObject }

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'PriorityClass', 'CustomResourceDefinition'])
const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'images'])

/** The base as `kustomize build` renders it: resources in order, the namespace set, images replaced. */
function renderKustomization (dir: string): { namespace: string, objects: Rendered[] } {
  const kustomization = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as K8sObject
  for (const key of Object.keys(kustomization)) assert.ok(KUSTOMIZATION_KEYS.has(key), `kustomization.yaml: ${key} is not rendered by this test; render it here before using it`)
  const namespace = kustomization.namespace as string
  const images = (kustomization.images ?? []) as Array<{ name: string, newName?: string, newTag?: string }>
  const objects: Rendered[] = []
  for (const file of kustomization.resources as string[]) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${file}: YAML errors`)
      const object = doc.toJS() as K8sObject | null
      if (object === null) continue
      if (!CLUSTER_SCOPED.has(object.kind as string)) object.metadata = { ...object.metadata, namespace }
      for (const container of podContainers(object)) {
        const [name, tag] = (container.image as string).split(':')
        const image = images.find((i) => i.name === name)
        if (image !== undefined) container.image = `${image.newName ?? name}:${image.newTag ?? tag ?? 'latest'}`
      }
      objects.push({ file, object })
    }
  }
  return { namespace, objects }
}

function podSpec (object: K8sObject): K8sObject | undefined {
  return object.spec?.template?.spec as K8sObject | undefined
}

function podContainers (object: K8sObject): K8sObject[] {
  const spec = podSpec(object)
  return spec === undefined ? [] : [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as K8sObject[]
}

function describe (rendered: Rendered): string {
  return `${rendered.file}: ${rendered.object.kind as string}/${rendered.object.metadata?.name as string}`
}

/** Problems kubernetes-models' schema validators find, one line each. */
async function schemaProblems (objects: readonly Rendered[]): Promise<string[]> {
  const problems: string[] = []
  for (const rendered of objects) {
    const { apiVersion, kind } = rendered.object as { apiVersion: string, kind: string }
    const module = `kubernetes-models/${apiVersion.includes('/') ? apiVersion : `v1`}/${kind}`
    let Model: new (data: K8sObject) => { validate(): void }
    try {
      Model = ((await import(module)) as Record<string, typeof Model>)[kind] as typeof Model
    } catch (err) {
      problems.push(`${describe(rendered)}: no schema for ${apiVersion} ${kind} (${String(err)})`)
      continue
    }
    try {
      new Model(structuredClone(rendered.object)).validate()
    } catch (err) {
      problems.push(`${describe(rendered)}: ${(err as Error).message}`)
    }
  }
  return problems
}

/** The kubernetes-types module of an apiVersion: "v1" → core/v1, "apps/v1", "rbac.authorization.k8s.io/v1" → rbac/v1. */
function typesModule (apiVersion: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion]
  return `kubernetes-types/${(group ?? '').split('.')[0] ?? ''}/${version ?? ''}`
}

/** Problems the TypeScript compiler finds assigning each object to its kubernetes-types type (unknown fields included). */
function typeProblems (objects: readonly Rendered[]): string[] {
  const path = join(BASE, '__rendered_manifests__.ts')
  const modules = [...new Set(objects.map((r) => typesModule(r.object.apiVersion as string)))]
  let text = modules.map((m, i) => `import type * as t${i} from '${m}'\n`).join('')
  const spans: Array<{ start: number, end: number, rendered: Rendered }> = []
  for (const [i, rendered] of objects.entries()) {
    const alias = `t${modules.indexOf(typesModule(rendered.object.apiVersion as string))}`
    const start = text.length
    text += `export const m${i}: ${alias}.${rendered.object.kind as string} = ${JSON.stringify(rendered.object, null, 2)}\n`
    spans.push({ start, end: text.length, rendered })
  }
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10, types: [], lib: ['lib.es2022.d.ts'] }
  const host = ts.createCompilerHost(options)
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, ...rest) => name === path ? source : getSourceFile(name, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (name) => name === path || fileExists(name)
  const program = ts.createProgram([path], options, host)
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    const span = d.file === source && d.start !== undefined ? spans.find((s) => d.start! >= s.start && d.start! < s.end) : undefined
    return `${span === undefined ? (d.file?.fileName ?? 'compiler') : describe(span.rendered)}: ${message}`
  })
}

async function validationProblems (objects: readonly Rendered[]): Promise<string[]> {
  return [...await schemaProblems(objects), ...typeProblems(objects)]
}

function find (objects: readonly Rendered[], kind: string, name: string): K8sObject {
  const found = objects.find((r) => r.object.kind === kind && r.object.metadata?.name === name)
  assert.ok(found !== undefined, `the base has ${kind}/${name}`)
  return found.object
}

const { namespace, objects } = renderKustomization(BASE)

test('every YAML file of deploy/kubernetes/ is a resource of the kustomization, and the render has the objects of the design', () => {
  const files = readdirSync(BASE).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort()
  const listed = [...new Set(objects.map((r) => r.file))].sort()
  assert.deepEqual(listed, files, 'no manifest left out of kustomization.yaml')
  const kinds = objects.map((r) => `${r.object.kind as string}/${r.object.metadata?.name as string}`).sort()
  for (const expected of ['Namespace/damselfly', 'StatefulSet/supernode', 'Service/supernode', 'DaemonSet/dfdaemon', 'ServiceAccount/supernode', 'ServiceAccount/dfdaemon', 'ConfigMap/supernode-config', 'ConfigMap/dfdaemon-config']) {
    assert.ok(kinds.includes(expected), `the base has ${expected}`)
  }
  assert.ok(!kinds.some((k) => /^(Cluster)?Role(Binding)?\//.test(k)), 'no Role: nothing calls the Kubernetes API')
})

test('every rendered manifest validates against the Kubernetes schemas (kubernetes-models) and types (kubernetes-types, unknown fields refused)', async () => {
  assert.deepEqual(await validationProblems(objects), [])
})

test('the validators refuse a broken manifest: a wrong type, a value outside an enum, an unknown or misplaced field, a missing required field', async () => {
  const broken = (mutate: (copy: Rendered[]) => void): Rendered[] => {
    const copy = objects.map((r) => ({ file: r.file, object: structuredClone(r.object) }))
    mutate(copy)
    return copy
  }
  const wrongType = await validationProblems(broken((copy) => { podSpec(find(copy, 'DaemonSet', 'dfdaemon'))!.containers[0].ports[0].containerPort = 'sixty-five' }))
  assert.ok(wrongType.some((p) => p.includes('DaemonSet/dfdaemon') && p.includes('containerPort must be integer')), `a string port is refused by the schema: ${wrongType.join('; ')}`)
  // An enum of the OpenAPI document, which the types leave a plain string: the schema's alone.
  const badEnum = await validationProblems(broken((copy) => { podSpec(find(copy, 'DaemonSet', 'dfdaemon'))!.containers[0].ports[0].protocol = 'HTTP' }))
  assert.ok(badEnum.some((p) => p.includes('DaemonSet/dfdaemon') && p.includes('protocol must be equal to one of the allowed values')), `a port protocol outside the enum is refused: ${badEnum.join('; ')}`)
  const unknownField = await validationProblems(broken((copy) => {
    const container = podSpec(find(copy, 'StatefulSet', 'supernode'))!.containers[0] as K8sObject
    container.imagePulPolicy = 'Always'
  }))
  assert.ok(unknownField.some((p) => p.includes('StatefulSet/supernode') && p.includes('imagePulPolicy') && p.includes("does not exist in type 'Container'")), `a misspelt field is refused: ${unknownField.join('; ')}`)
  const misplaced = await validationProblems(broken((copy) => {
    const spec = podSpec(find(copy, 'DaemonSet', 'dfdaemon'))!
    spec.hostPort = 65001
  }))
  assert.ok(misplaced.some((p) => p.includes('DaemonSet/dfdaemon') && p.includes('hostPort') && p.includes("does not exist in type 'PodSpec'")), `a field at the wrong level is refused: ${misplaced.join('; ')}`)
  const missing = await validationProblems(broken((copy) => { delete find(copy, 'StatefulSet', 'supernode').spec.selector }))
  assert.ok(missing.some((p) => p.includes('StatefulSet/supernode') && p.includes('selector')), `a missing selector is refused: ${missing.join('; ')}`)
})

test('the supernodes: a StatefulSet behind its headless Service, and the clients\' lists are that Service\'s SRV name for the API port', () => {
  const statefulSet = find(objects, 'StatefulSet', 'supernode')
  const service = find(objects, 'Service', statefulSet.spec.serviceName as string)
  assert.equal(service.spec.clusterIP, 'None', 'the StatefulSet\'s service is headless')
  const podLabels = statefulSet.spec.template.metadata.labels as Record<string, string>
  for (const [key, value] of Object.entries(service.spec.selector as Record<string, string>)) assert.equal(podLabels[key], value, `the Service selects the supernode pods (${key})`)
  const apiPort = (podSpec(statefulSet)!.containers[0].ports as K8sObject[]).find((p) => p.name === 'api')!.containerPort as number
  const servicePort = (service.spec.ports as K8sObject[]).find((p) => p.port === apiPort)
  assert.ok(servicePort !== undefined && typeof servicePort.name === 'string', 'the Service names the API port (its SRV records carry the name)')
  assert.ok(servicePort.targetPort === 'api' || servicePort.targetPort === apiPort, 'the named Service port is the pods\' API port')
  const protocol = ((servicePort.protocol as string | undefined) ?? 'TCP').toLowerCase()
  const expected = [`dns+srv://_${servicePort.name as string}._${protocol}.${service.metadata.name as string}.${namespace}.svc.cluster.local`]
  const clientConfig = find(objects, 'ConfigMap', 'dfdaemon-config').data as Record<string, string>
  for (const key of ['dfdaemon.yml', 'dfget.yml']) {
    const nodes = (parseYaml(clientConfig[key] ?? '') as { nodes: string[] }).nodes
    assert.deepEqual(nodes, expected, `${key}: nodes are the Service's SRV name`)
    assert.equal(parseNodeList(nodes)[0]?.discovery, 'srv', `${key}: the entry parses as SRV discovery`)
  }
})

test('every pod: probes on /_ping, Prometheus annotations on a declared port, requests and limits, ConfigMaps and volumes that exist, its ServiceAccount', () => {
  const workloads = objects.filter((r) => podSpec(r.object) !== undefined)
  assert.ok(workloads.length >= 2)
  for (const rendered of workloads) {
    const where = describe(rendered)
    const spec = podSpec(rendered.object)!
    const annotations = rendered.object.spec.template.metadata.annotations as Record<string, string>
    assert.equal(annotations['prometheus.io/scrape'], 'true', `${where}: scraped`)
    assert.equal(annotations['prometheus.io/path'], '/metrics', `${where}: metrics path`)
    const declared = (spec.containers as K8sObject[]).flatMap((c) => (c.ports ?? []) as K8sObject[]).map((p) => String(p.containerPort))
    assert.ok(declared.includes(annotations['prometheus.io/port'] ?? ''), `${where}: the scrape port is a declared port`)
    for (const container of spec.containers as K8sObject[]) {
      for (const probe of ['livenessProbe', 'readinessProbe']) assert.equal(container[probe]?.httpGet?.path, '/_ping', `${where} ${container.name as string}: ${probe} on /_ping`)
    }
    for (const container of podContainers(rendered.object)) {
      for (const side of ['requests', 'limits']) {
        assert.ok(container.resources?.[side]?.cpu !== undefined && container.resources?.[side]?.memory !== undefined, `${where} ${container.name as string}: ${side} of cpu and memory`)
      }
      assert.match(container.image as string, /^localhost\/damselfly:\d+\.\d+\.\d+$/, `${where} ${container.name as string}: the image set by the kustomization`)
      const volumes = new Set((spec.volumes as K8sObject[]).map((v) => v.name as string))
      for (const claim of (rendered.object.spec.volumeClaimTemplates ?? []) as K8sObject[]) volumes.add(claim.metadata.name as string)
      for (const mount of (container.volumeMounts ?? []) as K8sObject[]) assert.ok(volumes.has(mount.name as string), `${where} ${container.name as string}: volume ${mount.name as string} exists`)
    }
    for (const volume of spec.volumes as K8sObject[]) {
      if (volume.configMap !== undefined) find(objects, 'ConfigMap', volume.configMap.name as string)
    }
    find(objects, 'ServiceAccount', spec.serviceAccountName as string)
    assert.equal(spec.automountServiceAccountToken, false, `${where}: no API token mounted`)
  }
  const daemonSet = find(objects, 'DaemonSet', 'dfdaemon')
  const spec = podSpec(daemonSet)!
  assert.equal(spec.hostNetwork, true, 'dfdaemon is on the node\'s network: containerd reaches it on 127.0.0.1')
  const ports = (spec.containers[0].ports as K8sObject[]).map((p): unknown[] => [p.containerPort, p.hostPort])
  assert.deepEqual(ports, [[65001, 65001], [15001, 15001]], 'the proxy and peer ports are host ports')
  const init = (spec.initContainers as K8sObject[]).find((c) => c.name === 'setup-containerd')
  assert.deepEqual((init?.command as string[] | undefined)?.slice(0, 7), ['dfdaemon', 'setup', 'containerd', '--hosts-dir', '/host/etc/containerd/certs.d', '--port', '65001'])
  const dfdaemonYml = parseYaml(find(objects, 'ConfigMap', 'dfdaemon-config').data['dfdaemon.yml'] as string) as { port: number, listen: string }
  assert.equal(dfdaemonYml.port, 65001, 'dfdaemon listens where containerd is pointed')
  assert.equal(dfdaemonYml.listen, '127.0.0.1', 'dfdaemon is not open to the network')
  const dfgetYml = parseYaml(find(objects, 'ConfigMap', 'dfdaemon-config').data['dfget.yml'] as string) as { port: number }
  assert.equal(dfgetYml.port, 15001, 'the peer server is on its host port')
  const configMount = (spec.containers[0].volumeMounts as K8sObject[]).find((m) => m.name === 'config')
  assert.equal(configMount?.mountPath, '/etc/damselfly', 'dfget.yml lands at /etc/damselfly/dfget.yml, where dfdaemon reads its peer server\'s settings')
})

test('every configuration file in the ConfigMaps passes its program\'s config check', async (t) => {
  const dir = await createTmpDir('damselfly-k8s-config-')
  t.after(() => dir.close())
  const programs: Record<string, 'supernode' | 'dfget' | 'dfdaemon'> = { 'supernode.yml': 'supernode', 'dfget.yml': 'dfget', 'dfdaemon.yml': 'dfdaemon' }
  let checked = 0
  for (const rendered of objects.filter((r) => r.object.kind === 'ConfigMap')) {
    for (const [key, text] of Object.entries(rendered.object.data as Record<string, string>)) {
      const program = programs[key]
      assert.ok(program !== undefined, `${describe(rendered)}: ${key} is a file of a program`)
      const path = join(dir.path, `${rendered.object.metadata.name as string}-${key}`)
      await writeFile(path, text)
      const result = await runToExit(program, ['config', 'check', path])
      assert.equal(result.exitCode, 0, `${describe(rendered)} ${key}: ${result.stderr}`)
      checked++
    }
  }
  assert.equal(checked, 3)
  // The check is real: a bad key in the same file fails it.
  const bad = join(dir.path, 'bad-supernode.yml')
  await writeFile(bad, `${find(objects, 'ConfigMap', 'supernode-config').data['supernode.yml'] as string}cacheMaxSise: 1G\n`)
  assert.equal((await runToExit('supernode', ['config', 'check', bad])).exitCode, 2)
})
