// A recording ApiHost for the shell's unit tests: the decision logic around the core is what is
// under test here, not the core (which has its own tests against real services).
import type {
  ApiEvents,
  ApiHost,
  Args,
  EventName,
  MethodName,
  Result,
  SystemPause,
} from '../../core/api.js'
import type { Level, Logger } from '../../core/log.js'

type Handler = (args: unknown) => unknown

export class FakeHost implements ApiHost {
  readonly calls: { method: MethodName; args: unknown }[] = []
  readonly pauses: { reason: SystemPause; paused: boolean }[] = []
  private readonly handlers = new Map<string, Handler>()
  private readonly listeners = new Map<EventName, Set<(payload: unknown) => void>>()

  on<M extends MethodName>(method: M, handler: (args: Args<M>) => Result<M> | Promise<Result<M>>) {
    this.handlers.set(method, handler as Handler)
    return this
  }

  async call<M extends MethodName>(method: M, args: Args<M>): Promise<Result<M>> {
    this.calls.push({ method, args })
    const handler = this.handlers.get(method)
    return (handler ? await handler(args) : undefined) as Result<M>
  }

  subscribe<E extends EventName>(event: E, listener: (payload: ApiEvents[E]) => void): () => void {
    const set = this.listeners.get(event) ?? new Set()
    this.listeners.set(event, set)
    set.add(listener as (payload: unknown) => void)
    return () => set.delete(listener as (payload: unknown) => void)
  }

  emit<E extends EventName>(event: E, payload: ApiEvents[E]): void {
    for (const listener of this.listeners.get(event) ?? []) listener(payload)
  }

  listenerCount(event: EventName): number {
    return this.listeners.get(event)?.size ?? 0
  }
}

export class RecordingLogger implements Logger {
  readonly lines: { level: Level; event: string; fields?: Record<string, unknown> }[] = []
  log(level: Level, event: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level, event, fields })
  }
  events(): string[] {
    return this.lines.map((l) => l.event)
  }
}
