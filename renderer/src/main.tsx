import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { createTransport } from './api/client.js'
import { App } from './app.js'
import { DashboardStore } from './state/dashboard-store.js'
import { ApiContext } from './state/hooks.js'
import './styles.css'

// One transport and one store for the life of the page: both outlive any component.
const client = createTransport()
const store = new DashboardStore(client)
store.start()

const root = document.getElementById('root')
if (!root) throw new Error('index.html has no #root')
createRoot(root).render(
  <StrictMode>
    <ApiContext.Provider value={{ client, store }}>
      <App />
    </ApiContext.Provider>
  </StrictMode>,
)
