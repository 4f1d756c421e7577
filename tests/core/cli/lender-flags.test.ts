import { describe, expect, it } from 'vitest'
import { UsageError } from '../../../core/cli/args.js'
import { lenderPolicyFromFlags } from '../../../core/cli/lender-flags.js'

describe('meshlet run: the lender’s image policy flags', () => {
  it('leaves the saved settings be when no flag is given', () => {
    expect(lenderPolicyFromFlags({})).toEqual({})
  })

  it('takes repeated --allow-registry hosts, normalized, and --max-image-size in MiB', () => {
    expect(
      lenderPolicyFromFlags({
        'allow-registry': ['127.0.0.1:5055', 'Docker.io', 'registry-1.docker.io'],
        'max-image-size': '250',
      }),
    ).toEqual({ allowRegistries: ['127.0.0.1:5055', 'docker.io'], maxImageMiB: 250 })
  })

  it.each([
    [{ 'allow-registry': ['ghcr.io/owner'] }, /--allow-registry/],
    [{ 'allow-registry': [''] }, /--allow-registry/],
    [{ 'max-image-size': '-1' }, /--max-image-size/],
    [{ 'max-image-size': 'big' }, /--max-image-size/],
    [{ 'max-image-size': '99999999' }, /--max-image-size/],
  ])('refuses %j as a usage error', (values, message) => {
    expect(() => lenderPolicyFromFlags(values)).toThrow(UsageError)
    expect(() => lenderPolicyFromFlags(values)).toThrow(message)
  })
})
