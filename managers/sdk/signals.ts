// Deadlines and cancellation that always fire. On Node.js 20 a signal made by
// AbortSignal.any() holds its sources only weakly: a listener on
// AbortSignal.any([AbortSignal.timeout(300)]) never runs once the garbage
// collector has taken the timeout signal, which nothing else references (seen
// with gc() every 20 ms). A lost deadline leaves a backup or a prepare hanging
// on a database VM, so Steward never uses either: a deadline here is a timer
// that holds its controller, and a combined signal is held by ordinary
// (strong) listeners on its sources until it is disposed.

/** A signal with something to release: its timer and its listeners on other signals. */
export interface ScopedSignal {
  readonly signal: AbortSignal;
  /** Stops the timer and detaches from the sources; the signal keeps whatever state it reached. */
  dispose(): void;
}

/** The reason a deadline aborts with: a TimeoutError, which errors.ts maps to DEADLINE_EXCEEDED. */
export function timeoutReason(ms: number): DOMException {
  return new DOMException(`deadline of ${ms} ms exceeded`, 'TimeoutError');
}

/**
 * A signal that aborts when any source does (with that source's reason), or
 * after `timeoutMs` (with a TimeoutError) when it is given and positive.
 */
export function scopedSignal(sources: ReadonlyArray<AbortSignal | undefined>, timeoutMs?: number): ScopedSignal {
  const controller = new AbortController();
  const detach: Array<() => void> = [];
  let timer: NodeJS.Timeout | undefined;
  const dispose = () => {
    clearTimeout(timer);
    for (const d of detach.splice(0)) d();
  };
  const abort = (reason: unknown) => {
    if (!controller.signal.aborted) controller.abort(reason);
    dispose();
  };
  for (const source of sources) {
    if (!source) continue;
    if (source.aborted) {
      abort(source.reason);
      return { signal: controller.signal, dispose };
    }
    const onAbort = () => abort(source.reason);
    source.addEventListener('abort', onAbort, { once: true });
    detach.push(() => source.removeEventListener('abort', onAbort));
  }
  // The timer's closure holds the controller: the deadline outlives any collection.
  if (timeoutMs !== undefined && timeoutMs > 0) timer = setTimeout(() => abort(timeoutReason(timeoutMs)), timeoutMs);
  return { signal: controller.signal, dispose };
}

/**
 * A deadline on its own, for work that has nothing else to stop it (probes,
 * clean-ups). Its timer does not keep the process alive.
 */
export function deadline(timeoutMs: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(timeoutReason(timeoutMs)), timeoutMs).unref();
  return controller.signal;
}
