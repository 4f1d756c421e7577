export type Section = 'overview' | 'cluster' | 'balances' | 'guests' | 'workloads' | 'activity'

export const SECTIONS: { id: Section; label: string }[] = [
  { id: 'overview', label: 'Overview' },
  { id: 'cluster', label: 'Cluster' },
  { id: 'balances', label: 'Balances' },
  { id: 'guests', label: 'Running here' },
  { id: 'workloads', label: 'My workloads' },
  { id: 'activity', label: 'Activity' },
]
