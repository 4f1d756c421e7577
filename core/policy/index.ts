// The lending policy: when this machine lends, throttles or pauses (README.md).
export * from './rules.js'
export * from './decide.js'
export * from './readings.js'
export * from './runner.js'
export * from './throttle.js'
