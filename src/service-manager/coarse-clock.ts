/**
 * A clock read at most once per `resolutionMs`: the traffic monitor asks the time on every HTTP
 * request, and on the VMs this was measured on a clock read inside a busy server costs about a
 * microsecond of CPU (two per request were most of the monitor's cost; see docs/benchmarks.md).
 * node's own HTTP `Date` header is cached the same way, for a second.
 *
 * The first read after the cache expired reads the clock and arms one unref'd timer that expires
 * it again; an idle process has no timer running.
 */
export function coarseClock(resolutionMs: number, read: () => number = Date.now): () => number {
  let cached: number | undefined;
  let expire: NodeJS.Timeout | undefined;
  const forget = (): void => {
    cached = undefined;
  };
  return () => {
    if (cached === undefined) {
      cached = read();
      // refresh() re-arms a timer that has fired, without a new allocation.
      if (expire === undefined) expire = setTimeout(forget, resolutionMs).unref();
      else expire.refresh();
    }
    return cached;
  };
}
