// dockerode's BuildKit session helper, required on its first use rather than when dockerode
// loads: it brings gRPC and protobuf, and only a BuildKit image build asks for a session (see
// load-hooks.ts). Same function, same arguments. CommonJS, because dockerode require()s it.
/* global module, require */
'use strict'

let real

module.exports = function withSession(...args) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  real ??= require('dockerode/lib/session.js')
  return real(...args)
}
