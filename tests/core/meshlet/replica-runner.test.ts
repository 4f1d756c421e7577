// The decisions of the replica runner that need no Docker: how a container that ended on its own
// ended, which stops seal a result for the owner, what start-up does with a container it finds,
// and which start failures name the lender's policy. The runner itself (start, stop, the event
// watch) runs against a real engine in the e2e suites (workloads, late-bid, drain, secrets).
import { describe, expect, it } from 'vitest'
import {
  endingOf,
  imageRefusal,
  keepsResult,
  reconcileVerdict,
} from '../../../core/meshlet/replica-runner.js'
import {
  ContainerRuntimeError,
  ImageDigestMismatchError,
  PolicyError,
} from '../../../core/runtime/errors.js'
import type { StopAction } from '../../../core/scheduling/index.js'

describe('endingOf', () => {
  it.each<[string, { exitCode?: number; oomKilled?: boolean }, number | undefined, object]>([
    ['code 0', { exitCode: 0 }, undefined, { state: 'exited', code: 0, exitCode: 0 }],
    ['a non-zero code', { exitCode: 3 }, undefined, { state: 'failed', code: 3, exitCode: 3 }],
    [
      'code 0 but killed for memory',
      { exitCode: 0, oomKilled: true },
      undefined,
      { state: 'failed', code: 0, exitCode: 0, oomKilled: true },
    ],
    [
      'killed for memory (137)',
      { exitCode: 137, oomKilled: true },
      undefined,
      { state: 'failed', code: 137, exitCode: 137, oomKilled: true },
    ],
    ['the event code when Docker keeps none', {}, 0, { state: 'exited', code: 0, exitCode: 0 }],
    ["the container's code before the event's", { exitCode: 2 }, 0, { state: 'failed', code: 2 }],
    ['no code anywhere', {}, undefined, { state: 'failed', code: -1, exitCode: -1 }],
    ['a code above 255, clamped', { exitCode: 300 }, undefined, { code: 300, exitCode: 255 }],
    ['a code below -1, clamped', { exitCode: -9 }, undefined, { code: -9, exitCode: -1 }],
  ])('%s', (_name, replica, eventCode, expected) => {
    const end = endingOf(replica, eventCode)
    expect(end).toMatchObject({ oomKilled: false, ...expected })
  })
})

describe('keepsResult', () => {
  it.each<[StopAction['status'], boolean]>([
    ['stopped', true],
    ['draining', true],
    ['failed', true],
    ['yielded', false],
    [undefined, false],
  ])('%s: %s', (state, keeps) => {
    expect(keepsResult(state)).toBe(keeps)
  })
})

describe('reconcileVerdict', () => {
  const v1 = { cid: 'bafyv1' }
  const v2 = { cid: 'bafyv2' }
  it.each<
    [string, { cid: string; state: 'running' | 'exited' }, { cid: string } | undefined, boolean]
  >([
    ['running, same version', { cid: 'bafyv1', state: 'running' }, v1, true],
    ['running, same version, owner not read yet', { cid: 'bafyv1', state: 'running' }, v1, false],
  ])('keep: %s', (_name, r, w, backfilled) => {
    expect(reconcileVerdict(r, w, backfilled)).toBe('keep')
  })

  it('keeps a container whose workload is unknown only because its owner was not read yet', () => {
    expect(reconcileVerdict({ cid: 'bafyv1', state: 'running' }, undefined, false)).toBe('unknown')
    expect(reconcileVerdict({ cid: 'bafyv1', state: 'exited' }, undefined, false)).toBe('unknown')
  })

  it('reports a container of the current version that ended while away, then removes it', () => {
    expect(reconcileVerdict({ cid: 'bafyv1', state: 'exited' }, v1, true)).toBe('ended')
    expect(reconcileVerdict({ cid: 'bafyv1', state: 'exited' }, v1, false)).toBe('ended')
  })

  it.each<[string, { cid: string; state: 'running' | 'exited' }, { cid: string } | undefined]>([
    ['workload deleted', { cid: 'bafyv1', state: 'running' }, undefined],
    ['workload updated', { cid: 'bafyv1', state: 'running' }, v2],
    ['workload updated, container ended', { cid: 'bafyv1', state: 'exited' }, v2],
  ])('removes an orphan: %s', (_name, r, w) => {
    expect(reconcileVerdict(r, w, true)).toBe('remove')
  })
})

describe('imageRefusal', () => {
  it('names the policy reason of a refused image', () => {
    expect(imageRefusal(new PolicyError('registry-not-allowed', 'no'))).toBe('registry-not-allowed')
    expect(imageRefusal(new PolicyError('image-too-large', 'too big'))).toBe('image-too-large')
  })

  it('names a pinned tag that moved', () => {
    expect(imageRefusal(new ImageDigestMismatchError('a:1@sha256:00', 'sha256:11'))).toBe(
      'digest-mismatch',
    )
  })

  it('names nothing for any other failure', () => {
    expect(imageRefusal(new ContainerRuntimeError('pull failed'))).toBeUndefined()
    expect(imageRefusal(new Error('boom'))).toBeUndefined()
    expect(imageRefusal('not an error')).toBeUndefined()
  })
})
