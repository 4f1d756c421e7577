// The preload of the dashboard window. It runs sandboxed, so it is bundled into one CommonJS file
// (dist/electron/preload.cjs) that requires nothing but 'electron' (see vite.config.ts).
import { contextBridge, ipcRenderer } from 'electron'
import { createBridge } from './bridge.js'

contextBridge.exposeInMainWorld('meshletApi', createBridge(ipcRenderer))
