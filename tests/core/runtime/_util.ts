// Small factories for the runtime tests, which all run against the real Docker engine.
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { createConnection, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import Docker from 'dockerode'
import { afterAll } from 'vitest'
import { LABEL_MESHLET, Runtime, type ReplicaSpec } from '../../../core/runtime/index.js'
import { TEST_IMAGE } from '../../infra.js'

export const docker = new Docker()

/** A meshlet DID no other test file uses, so cleanup by label touches only our containers. */
export function testDid(): string {
  return `did:plc:test-${randomBytes(6).toString('hex')}`
}

export function randomId(): string {
  return randomBytes(5).toString('hex')
}

export function testSpec(overrides: Partial<ReplicaSpec> = {}): ReplicaSpec {
  return {
    workloadUri: `at://did:plc:owner-${randomId()}/commune.scheduler.workload/${randomId()}`,
    cid: 'bafyreitestcid',
    round: 0,
    image: TEST_IMAGE,
    command: ['sleep', '3600'],
    resources: { cpuMillis: 500, memoryMiB: 64 },
    network: 'none',
    ...overrides,
  }
}

/** Removes every container labelled with this meshlet DID, running or not. */
export async function removeMeshletContainers(did: string): Promise<void> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL_MESHLET}=${did}`] },
  })
  await Promise.all(
    containers.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  )
}

export async function exists(containerId: string): Promise<boolean> {
  try {
    await docker.getContainer(containerId).inspect()
    return true
  } catch {
    return false
  }
}

export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** Runs a command inside a running container, as the container's own user. */
export async function execIn(containerId: string, cmd: string[]): Promise<ExecResult> {
  const exec = await docker.getContainer(containerId).exec({
    Cmd: cmd,
    AttachStdout: true,
    AttachStderr: true,
  })
  const stream = await exec.start({ hijack: true, stdin: false })
  const out = new PassThrough()
  const err = new PassThrough()
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] }
  out.on('data', (c: Buffer) => chunks.out.push(c))
  err.on('data', (c: Buffer) => chunks.err.push(c))
  docker.modem.demuxStream(stream, out, err)
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve)
    stream.on('close', resolve)
    stream.on('error', reject)
  })
  let info = await exec.inspect()
  for (let i = 0; info.Running && i < 100; i++) {
    await sleep(50)
    info = await exec.inspect()
  }
  return {
    exitCode: info.ExitCode ?? -1,
    stdout: Buffer.concat(chunks.out).toString('utf8'),
    stderr: Buffer.concat(chunks.err).toString('utf8'),
  }
}

/** The container's stdout and stderr so far, with Docker's stream framing removed. */
export async function logsOf(containerId: string): Promise<string> {
  const raw = (await docker
    .getContainer(containerId)
    .logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer
  const parts: string[] = []
  let i = 0
  while (i + 8 <= raw.length) {
    const size = raw.readUInt32BE(i + 4)
    parts.push(raw.subarray(i + 8, i + 8 + size).toString('utf8'))
    i += 8 + size
  }
  return parts.join('')
}

/** Polls `check` until it returns a value other than undefined; fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

export interface DockerProxy {
  socketPath: string
  /** Destroys every open connection through the proxy (new ones still work). */
  cut(): void
  /** While down, the "engine" is away: open connections are cut and new ones are dropped. */
  setDown(down: boolean): void
  /**
   * Resolves when a request containing `text` passes through; with `hold`, that request (and
   * whatever follows on its connection) never reaches the engine.
   */
  requestSeen(text: string, opts?: { hold?: boolean }): Promise<void>
  close(): Promise<void>
}

/**
 * A unix-socket proxy in front of the real engine, so a test can make Docker "go away" under a
 * Runtime without touching the engine the other tests share.
 */
export async function dockerProxy(): Promise<DockerProxy> {
  // docker-modem may hold the socket path as a function that finds it.
  const configured = (docker.modem as { socketPath?: string | (() => Promise<string>) }).socketPath
  const target =
    (typeof configured === 'function' ? await configured() : configured) ?? '/var/run/docker.sock'
  const socketPath = join(tmpdir(), `commune-docker-proxy-${randomId()}.sock`)
  const open = new Set<Socket>()
  const watchers: { text: string; hold: boolean; resolve: () => void }[] = []
  let isDown = false
  const server = createServer((client) => {
    if (isDown) {
      client.destroy()
      return
    }
    const upstream = createConnection(target)
    open.add(client)
    open.add(upstream)
    const forget = () => {
      open.delete(client)
      open.delete(upstream)
      client.destroy()
      upstream.destroy()
    }
    // Forwarded by hand rather than piped, so a request can be held back from the engine.
    let holding = false
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1')
      for (const w of [...watchers]) {
        if (text.includes(w.text)) {
          watchers.splice(watchers.indexOf(w), 1)
          if (w.hold) holding = true
          w.resolve()
        }
      }
      if (!holding) upstream.write(chunk)
    })
    client.on('end', () => upstream.end())
    upstream.pipe(client)
    client.on('error', forget)
    upstream.on('error', forget)
    client.on('close', forget)
    upstream.on('close', forget)
  })
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  function cut(): void {
    for (const s of open) s.destroy()
    open.clear()
  }
  return {
    socketPath,
    cut,
    setDown(down) {
      isDown = down
      if (down) cut()
    },
    requestSeen(text, opts = {}) {
      return new Promise((resolve) => watchers.push({ text, hold: opts.hold ?? false, resolve }))
    },
    async close() {
      cut()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      rmSync(socketPath, { force: true })
    },
  }
}

/** A runtime with a meshlet DID of its own for one test file, its background errors collected;
 *  disposed, and its containers removed, after the file. */
export function fileRuntime(): { did: string; runtime: Runtime; errors: Error[] } {
  const did = testDid()
  const errors: Error[] = []
  const runtime = new Runtime({ meshletDid: did, docker, onError: (e) => errors.push(e) })
  afterAll(async () => {
    await runtime[Symbol.asyncDispose]()
    await removeMeshletContainers(did)
  })
  return { did, runtime, errors }
}
