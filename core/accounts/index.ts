export * from './machine-account.js'
