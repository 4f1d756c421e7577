// Image references as Docker reads them: a table of good and misleading ones.
import { describe, expect, it } from 'vitest'
import {
  InvalidImageError,
  parseImageRef,
  registryAllowed,
  type ImageRef,
} from '../../../core/runtime/index.js'

const digest = `sha256:${'a'.repeat(64)}`

describe('parseImageRef', () => {
  const good: [string, ImageRef][] = [
    ['busybox', { name: 'busybox', registry: 'docker.io', repository: 'library/busybox' }],
    [
      'busybox:1.36',
      { name: 'busybox', registry: 'docker.io', repository: 'library/busybox', tag: '1.36' },
    ],
    ['alice/app', { name: 'alice/app', registry: 'docker.io', repository: 'alice/app' }],
    [
      'docker.io/library/busybox:latest',
      {
        name: 'docker.io/library/busybox',
        registry: 'docker.io',
        repository: 'library/busybox',
        tag: 'latest',
      },
    ],
    [
      'index.docker.io/alice/app',
      { name: 'index.docker.io/alice/app', registry: 'docker.io', repository: 'alice/app' },
    ],
    [
      '127.0.0.1:5055/commune/busybox:1',
      {
        name: '127.0.0.1:5055/commune/busybox',
        registry: '127.0.0.1:5055',
        repository: 'commune/busybox',
        tag: '1',
      },
    ],
    ['localhost/app', { name: 'localhost/app', registry: 'localhost', repository: 'app' }],
    [
      'localhost:5000/a/b/c@' + digest,
      { name: 'localhost:5000/a/b/c', registry: 'localhost:5000', repository: 'a/b/c', digest },
    ],
    [
      'ghcr.io/o/r:v1@' + digest,
      { name: 'ghcr.io/o/r', registry: 'ghcr.io', repository: 'o/r', tag: 'v1', digest },
    ],
    [
      'commune-test/busybox:1',
      {
        name: 'commune-test/busybox',
        registry: 'docker.io',
        repository: 'commune-test/busybox',
        tag: '1',
      },
    ],
    ['a__b-c.d', { name: 'a__b-c.d', registry: 'docker.io', repository: 'library/a__b-c.d' }],
    ['[::1]:5000/x', { name: '[::1]:5000/x', registry: '[::1]:5000', repository: 'x' }],
  ]
  it.each(good)('parses %s', (ref, expected) => {
    expect(parseImageRef(ref)).toEqual(expected)
  })

  const bad = [
    '',
    ' busybox',
    'busybox ',
    'Busybox',
    'alice/App',
    'busybox:',
    'busybox:-tag',
    'busybox:' + 'x'.repeat(129),
    'busybox@sha256:abc',
    'busybox@md5:' + 'a'.repeat(32),
    'a//b',
    '/busybox',
    'busybox/',
    'a..b/c',
    'a__b.c/d',
    'a/b_-c',
    '-a/b',
    'registry:port/x',
    'x'.repeat(256),
    'a;rm -rf/b',
    'a\nb',
  ]
  it.each(bad)('refuses %j', (ref) => {
    expect(() => parseImageRef(ref)).toThrow(InvalidImageError)
  })
})

describe('registryAllowed', () => {
  it('treats implicit names as docker.io and compares hosts case-insensitively', () => {
    expect(registryAllowed(parseImageRef('busybox'), ['docker.io'])).toBe(true)
    expect(registryAllowed(parseImageRef('busybox'), ['registry-1.docker.io'])).toBe(true)
    expect(registryAllowed(parseImageRef('GHCR.io/a/b'), ['ghcr.io'])).toBe(true)
    expect(registryAllowed(parseImageRef('ghcr.io/a/b'), ['docker.io'])).toBe(false)
    // A registry named like an allowed one but on another port, or a lookalike host, is refused.
    expect(registryAllowed(parseImageRef('127.0.0.1:5056/a'), ['127.0.0.1:5055'])).toBe(false)
    expect(registryAllowed(parseImageRef('docker.io.evil.com/a'), ['docker.io'])).toBe(false)
    expect(registryAllowed(parseImageRef('busybox'), [])).toBe(false)
    expect(registryAllowed(parseImageRef('anything.example/a'), undefined)).toBe(true)
  })
})
