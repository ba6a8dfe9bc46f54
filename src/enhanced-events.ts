/**
 * A typed event emitter whose `emit` cannot be broken by a listener: each listener
 * runs on its own, a throw (or a rejected promise from an async listener) is handed
 * to `onListenerError` and the remaining listeners still run. The recorder emits
 * from the middle of its pipeline (a session ending, a file stored), so a host's
 * listener that throws must never skip the step after the emit.
 */
type Listener = (...args: never[]) => unknown;

interface Registration {
  fn: Listener;
  once: boolean;
}

/** Events are described as `{ name: [arg1, arg2] }`. */
export type EventMap<E> = { [K in keyof E]: unknown[] };

/** Called with what a listener threw and the event it was listening to. */
export type ListenerErrorHandler = (error: unknown, eventName: string) => void;

export class EnhancedEventEmitter<E extends EventMap<E>> {
  readonly #listeners = new Map<keyof E, Registration[]>();
  #onListenerError: ListenerErrorHandler | undefined;

  /** @internal Where listener errors go (the owner reports them); without one they are dropped. */
  setListenerErrorHandler(handler: ListenerErrorHandler): void {
    this.#onListenerError = handler;
  }

  on<K extends keyof E>(eventName: K, listener: (...args: E[K]) => unknown): this {
    return this.#add(eventName, listener as Listener, false);
  }

  addListener<K extends keyof E>(eventName: K, listener: (...args: E[K]) => unknown): this {
    return this.#add(eventName, listener as Listener, false);
  }

  once<K extends keyof E>(eventName: K, listener: (...args: E[K]) => unknown): this {
    return this.#add(eventName, listener as Listener, true);
  }

  off<K extends keyof E>(eventName: K, listener: (...args: E[K]) => unknown): this {
    return this.removeListener(eventName, listener);
  }

  removeListener<K extends keyof E>(eventName: K, listener: (...args: E[K]) => unknown): this {
    const registrations = this.#listeners.get(eventName);
    if (!registrations) return this;
    const index = registrations.findIndex((r) => r.fn === (listener as Listener));
    if (index >= 0) registrations.splice(index, 1);
    if (registrations.length === 0) this.#listeners.delete(eventName);
    return this;
  }

  removeAllListeners(eventName?: keyof E): this {
    if (eventName === undefined) this.#listeners.clear();
    else this.#listeners.delete(eventName);
    return this;
  }

  listenerCount(eventName: keyof E): number {
    return this.#listeners.get(eventName)?.length ?? 0;
  }

  listeners<K extends keyof E>(eventName: K): Array<(...args: E[K]) => unknown> {
    return (this.#listeners.get(eventName) ?? []).map((r) => r.fn as (...args: E[K]) => unknown);
  }

  eventNames(): Array<keyof E> {
    return [...this.#listeners.keys()];
  }

  /**
   * Calls every listener of `eventName` in the order they were added. A listener that
   * throws or rejects does not stop the others; its error goes to the error handler.
   * Returns whether there were listeners. Unlike Node's emitter, an `error` event
   * without listeners is not thrown.
   */
  emit<K extends keyof E>(eventName: K, ...args: E[K]): boolean {
    const registrations = this.#listeners.get(eventName);
    if (!registrations || registrations.length === 0) return false;
    for (const registration of [...registrations]) {
      if (registration.once) this.removeListener(eventName, registration.fn as (...args: E[K]) => unknown);
      try {
        const result = (registration.fn as (...a: E[K]) => unknown)(...args);
        if (result instanceof Promise) result.catch((error: unknown) => this.#listenerFailed(error, eventName));
      } catch (error) {
        this.#listenerFailed(error, eventName);
      }
    }
    return true;
  }

  #add(eventName: keyof E, fn: Listener, once: boolean): this {
    const registrations = this.#listeners.get(eventName);
    if (registrations) registrations.push({ fn, once });
    else this.#listeners.set(eventName, [{ fn, once }]);
    return this;
  }

  #listenerFailed(error: unknown, eventName: keyof E): void {
    try {
      this.#onListenerError?.(error, String(eventName));
    } catch {
      // The handler itself failed (e.g. an `error` listener that throws): nothing safe is left to tell.
    }
  }
}
