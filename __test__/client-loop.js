// An HTTP client loop on loopback, for the `listen` tests: `concurrency` requests at a time,
// each on a fresh connection, bounded in count and in time. Every outcome is kept.
const http = require('http');

/**
 * @typedef {{ id: number, ok: boolean, pid: number | null, code: string | null, ms: number }} Outcome
 */

/**
 * One GET on a fresh connection to `target` (`{ host, port }` or `{ socketPath }`).
 * @returns {Promise<Outcome>}
 */
function request(target, id, path = `/?id=${id}`, timeout = 10000) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const done = (ok, pid, code) => resolve({ id, ok, pid, code, ms: performance.now() - t0 });
    const req = http.get(
      { ...target, path, agent: false, headers: { connection: 'close' }, timeout },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () =>
          res.statusCode === 200
            ? done(true, Number(body), null)
            : done(false, null, `HTTP ${res.statusCode}`),
        );
        res.on('error', (err) => done(false, null, err.code || err.message));
      },
    );
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    req.on('error', (err) => done(false, null, err.code || err.message));
  });
}

/**
 * Starts the loop: `concurrency` requests at a time until `stop()`, `max` requests or `ms`
 * have passed. `send(path)` adds one request of the caller's (a `/crash`), numbered like
 * the others. `stop()` resolves with every outcome once the requests in flight have ended.
 */
function clientLoop(target, { concurrency = 4, max = 20000, ms = 18000 } = {}) {
  /** @type {Outcome[]} */
  const results = [];
  const extra = [];
  let next = 0;
  let stopped = false;
  const deadline = Date.now() + ms;
  const worker = async () => {
    while (!stopped && next < max && Date.now() < deadline) {
      results.push(await request(target, next++));
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    results,
    /** How many requests have ended so far. */
    get count() {
      return results.length;
    },
    send(path) {
      const id = next++;
      const p = request(target, id, `${path}?id=${id}`).then((r) => {
        results.push(r);
        return r;
      });
      extra.push(p);
      return p;
    },
    async stop() {
      stopped = true;
      await Promise.all([...workers, ...extra]);
      return results;
    },
  };
}

/** `crash <pid> <n> <ids…>` lines a crashing listen-server printed: the requests it took down. */
function crashReports(lines) {
  return lines
    .filter((l) => l.startsWith('crash '))
    .map((l) => {
      const [, pid, n, ...ids] = l.trim().split(' ');
      return { pid: Number(pid), lost: Number(n), ids: ids.map(Number) };
    });
}

module.exports = { request, clientLoop, crashReports };
