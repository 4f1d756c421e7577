export * from './machine-account.js'
export * from './api-error.js'
