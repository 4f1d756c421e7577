// The demo cleans up after itself when its terminal closes (SIGHUP), and removes what an earlier
// demo, killed outright, left behind — with the real demo process and the real Docker engine.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LABEL_MESHLET } from '../../core/runtime/index.js'
import { TEST_IMAGE } from '../infra.js'
import { eventually } from '../_util.js'
import { docker, removeContainersOf } from './_util.js'

const root = new URL('../..', import.meta.url).pathname
const LEFTOVERS = join(tmpdir(), 'commune-meshlet-demo-meshlets.json')
const STALE = 'did:plc:demoleftoverdemoleftover'
let demo: ChildProcess | undefined
let dids: string[] = []

afterAll(async () => {
  demo?.kill('SIGKILL')
  await removeContainersOf([STALE, ...dids])
})

async function containersOf(meshlets: string[]) {
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL_MESHLET] } })
  return list.filter((c) => meshlets.includes(c.Labels[LABEL_MESHLET] ?? ''))
}

describe('the demo', () => {
  it('removes an earlier demo’s leftovers, and its own containers on SIGHUP', async () => {
    // What a demo killed with SIGKILL leaves: its meshlets named, a container of theirs.
    await writeFile(LEFTOVERS, JSON.stringify([STALE]))
    await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sleep', '600'],
      Labels: { [LABEL_MESHLET]: STALE },
    })
    let output = ''
    demo = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
    })
    demo.stdout!.on('data', (d: Buffer) => (output += d.toString()))
    demo.stderr!.on('data', (d: Buffer) => (output += d.toString()))
    await eventually(
      'the leftovers removed',
      () => output.includes('removed 1 container(s) an earlier demo left behind'),
      60_000,
    )
    expect(await containersOf([STALE])).toEqual([])
    // Its three meshlets named, and a guest of theirs running.
    dids = await eventually(
      'the demo’s meshlets',
      async () => {
        const named = JSON.parse(await readFile(LEFTOVERS, 'utf8')) as string[]
        return named.length === 3 && named
      },
      60_000,
    )
    await eventually(
      'a guest running',
      async () => (await containersOf(dids)).some((c) => c.State === 'running'),
      180_000,
    )

    const exited = new Promise((r) => demo!.once('exit', r))
    demo.kill('SIGHUP')
    await exited
    await eventually('no container left', async () => (await containersOf(dids)).length === 0)
    await expect(stat(LEFTOVERS)).rejects.toThrow(/ENOENT/)
  }, 240_000)
})
