// `npm run demo`: the whole commune on one machine. Starts a real PLC and PDS in-process, creates
// three members (alice, bob, carol) each with a meshlet account, links them, starts three
// `meshlet run` daemons as processes, submits a workload with two replicas and shows which
// meshlets won and that their containers run. alice's daemon also serves the dashboard (the
// renderer, in any browser) and prints its address. Ctrl-C, a closed terminal (SIGHUP) or a
// closed output pipe stops everything and removes the containers; a demo killed outright is
// cleaned up by the next one.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import Docker from 'dockerode'
import { NSID } from '../core/lexicon/index.js'
import { createLocalAccount, localIdentity, startNetwork, type Account } from './local-network.js'
import { printStatus, workloadStatusReport } from '../core/status.js'
import { LABEL_MESHLET } from '../core/runtime/index.js'

const IMAGE = process.env.MESHLET_DEMO_IMAGE ?? 'commune-test/busybox:1'
const BIN = new URL('../bin/meshlet.js', import.meta.url).pathname
let startedHook: () => void = () => undefined
let cleanupOnError: (() => Promise<void>) | undefined
let dashboard: string | undefined
const colors = { alice: 35, bob: 36, carol: 33 } as const
type Name = keyof typeof colors

function say(line: string): void {
  process.stdout.write(`\x1b[1mdemo\x1b[0m  ${line}\n`)
}

async function main(): Promise<void> {
  const docker = new Docker()
  try {
    await docker.ping()
    await docker.getImage(IMAGE).inspect()
  } catch {
    throw new Error(
      `the demo needs a running Docker engine and the image ${IMAGE}: run \`scripts/dev demo\`, which sets both up`,
    )
  }

  const left = await removeLeftovers(docker)
  if (left > 0) say(`removed ${left} container(s) an earlier demo left behind`)

  say('starting a local PLC directory and PDS')
  const net = await startNetwork()
  const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-demo-'))
  const children: ChildProcess[] = []
  const meshletDids: string[] = []
  let cleaning: Promise<void> | undefined
  // Docker ANDs label filters, so filter on the key and pick our meshlets here.
  const ours = async (opts: { all: boolean }) =>
    (await docker.listContainers({ ...opts, filters: { label: [LABEL_MESHLET] } })).filter((c) =>
      meshletDids.includes(c.Labels[LABEL_MESHLET] ?? ''),
    )

  const cleanup = () =>
    (cleaning ??= (async () => {
      say('stopping the meshlets and removing their containers')
      for (const c of children) c.kill('SIGTERM')
      await Promise.all(
        children.map((c) => new Promise((r) => (c.exitCode !== null ? r(0) : c.once('exit', r)))),
      )
      const containers = await ours({ all: true })
      for (const c of containers) await docker.getContainer(c.Id).remove({ force: true })
      await net.close()
      await rm(dataDir, { recursive: true, force: true })
      await rm(LEFTOVERS, { force: true })
      say(`done: ${containers.length} container(s) removed`)
    })())
  cleanupOnError = cleanup
  const stop = () => void cleanup().then(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  // The terminal closed, or whatever read our output went away (`npm run demo | head`): clean
  // up too, or the guests run on with nobody to stop them.
  process.once('SIGHUP', stop)
  for (const out of [process.stdout, process.stderr]) {
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') stop()
    })
  }

  const identity = localIdentity(net)
  const account = (handle: string) => createLocalAccount(net, handle)
  const names: Name[] = ['alice', 'bob', 'carol']
  const members: { name: Name; owner: Account; meshlet: Account }[] = []
  for (const name of names) {
    const owner = await account(`${name}.test`)
    const meshlet = await account(`${name}-mesh.test`)
    members.push({ name, owner, meshlet })
    meshletDids.push(meshlet.did)
    // Kept until the cleanup ends, so a demo killed without one is cleaned up by the next.
    await writeFile(LEFTOVERS, JSON.stringify(meshletDids))
    say(`${name} is ${owner.did}; their meshlet is ${meshlet.did}`)
  }
  const network = ['--plc', net.plc.url, '--handle-resolver', net.pds.url]
  const runCli = (args: string[], env: Record<string, string>) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } })
      let out = ''
      p.stdout.on('data', (d) => (out += d))
      p.stderr.on('data', (d) => (out += d))
      p.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(out))))
    })

  for (const m of members) {
    await runCli(['link', '--did', m.meshlet.handle, '--owner', m.owner.handle, ...network], {
      OWNER_PASSWORD: m.owner.password,
      MESHLET_PASSWORD: m.meshlet.password,
    })
    say(`linked ${m.meshlet.handle} <-> ${m.owner.handle} (meshlet link)`)
  }

  let started = 0
  let failHook: (err: Error) => void = () => undefined
  const allStarted = new Promise<void>((resolve, reject) => {
    startedHook = () => (++started === members.length ? resolve() : undefined)
    failHook = reject
  })
  for (const m of members) {
    const others = members.filter((x) => x !== m).map((x) => x.owner.handle)
    const child = spawn(
      process.execPath,
      [
        BIN,
        'run',
        '--did',
        m.meshlet.did,
        '--owner',
        m.owner.did,
        '--cluster-members',
        others.join(','),
        '--firehose',
        net.pds.url,
        '--data-dir',
        join(dataDir, m.name),
        '--cpu',
        '1000',
        '--memory',
        '512',
        ...network,
        // The meshlet API on loopback; on this local network its address is published in the
        // meshlet's record, where `meshlet logs` looks.
        '--xrpc-port',
        '0',
        ...(m.name === 'alice' ? ['--ui-port', process.env.MESHLET_DEMO_UI_PORT ?? '0'] : []),
      ],
      {
        env: {
          ...process.env,
          MESHLET_PASSWORD: m.meshlet.password,
          // alice's dashboard can also submit and delete her workloads.
          ...(m.name === 'alice' ? { OWNER_PASSWORD: m.owner.password } : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    children.push(child)
    child.once('exit', (code) => {
      if (!cleaning)
        failHook(new Error(`${m.name}'s meshlet daemon exited (code ${code}); see its log above`))
    })
    const tag = `\x1b[${colors[m.name]}m${m.name.padEnd(5)}\x1b[0m`
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        process.stdout.write(`${tag} ${brief(line)}\n`)
        if (line.includes('"event":"started"')) startedHook()
        const ui = /dashboard at (\S+)/.exec(line)?.[1]
        if (ui) dashboard = ui
      })
    }
  }
  say('starting three meshlet daemons (meshlet run); waiting until each has formed its cluster')
  await allStarted

  const alice = members[0]!
  const wl = await alice.owner.session.create(NSID.workload, {
    name: 'hello',
    image: IMAGE,
    command: ['sh', '-c', 'while true; do echo "working for the commune"; sleep 5; done'],
    resources: { cpuMillis: 250, memoryMiB: 64 },
    replicas: 2,
    bidWindowMs: 3000,
    createdAt: new Date().toISOString(),
  })
  say(`alice submitted ${wl.uri} (2 replicas, 250 millicores, 64 MiB each)`)

  const deadline = Date.now() + 60_000
  for (;;) {
    const report = await workloadStatusReport(identity, wl.uri, Date.now())
    const running = report.statuses.filter((s) => s.state === 'running')
    if (running.length >= 2 || Date.now() > deadline) {
      const name = (did: string) => members.find((m) => m.meshlet.did === did)?.name ?? did
      printStatus(report, (line) =>
        say(
          line.replace(/did:plc:[a-z0-9]+/g, (d) =>
            meshletDids.includes(d) ? `${name(d)}'s meshlet` : d,
          ),
        ),
      )
      break
    }
    await new Promise((r) => setTimeout(r, 1000))
  }
  const containers = await ours({ all: false })
  say(`containers running now: ${containers.length}`)
  for (const c of containers) {
    const owner = members.find((m) => m.meshlet.did === c.Labels[LABEL_MESHLET])
    say(`  ${c.Names[0]} on ${owner?.name}'s meshlet: ${c.Status}`)
  }
  // What the guests printed, asked of each host over its API with alice's service tokens.
  const logsArgs = ['logs', wl.uri, '--lines', '3', '--data-dir', join(dataDir, 'cli'), ...network]
  say(`meshlet ${logsArgs.slice(0, 4).join(' ')} …  (what alice's replicas printed)`)
  try {
    const printed = await runCli(logsArgs, { OWNER_PASSWORD: alice.owner.password })
    for (const line of printed.split('\n')) {
      say(
        '  ' +
          line.replace(/did:plc:[a-z0-9]+/g, (d) => {
            const m = members.find((x) => x.meshlet.did === d)
            return m ? `${m.name}'s meshlet` : d
          }),
      )
    }
  } catch (err) {
    say(`  meshlet logs failed: ${(err as Error).message}`)
  }
  if (dashboard) {
    say(`alice's dashboard (open it in a browser): ${dashboard}`)
    say('  there: pause or lend, move the capacity sliders, see guests, submit workloads')
  }
  say('the commune keeps running; press Ctrl-C to stop everything')
  if (process.env.MESHLET_DEMO_EXIT) await cleanup()
}

/** The meshlets of a demo that has not cleaned up yet (one file per machine user). */
const LEFTOVERS = join(tmpdir(), 'commune-meshlet-demo-meshlets.json')

/** Removes the containers of meshlets an earlier demo named and never cleaned up after. */
async function removeLeftovers(docker: Docker): Promise<number> {
  let dids: unknown
  try {
    dids = JSON.parse(await readFile(LEFTOVERS, 'utf8'))
  } catch {
    return 0
  }
  if (!Array.isArray(dids)) return 0
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL_MESHLET] } })
  let removed = 0
  for (const c of list) {
    if (!dids.includes(c.Labels[LABEL_MESHLET])) continue
    await docker.getContainer(c.Id).remove({ force: true })
    removed++
  }
  await rm(LEFTOVERS, { force: true })
  return removed
}

function brief(line: string): string {
  try {
    const {
      t: _t,
      level,
      event,
      meshlet: _m,
      ...rest
    } = JSON.parse(line) as Record<string, unknown>
    return `${String(level).padEnd(5)} ${String(event)} ${JSON.stringify(rest)}`
  } catch {
    return line
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`)
  process.exitCode = 1
  await cleanupOnError?.().catch(() => undefined)
  process.exit(1)
})
