'use strict';
// Scenario 1 — restart with a busy host.
//
// The host's JS thread is blocked for 3 s (1 s with --quick) as soon as 'start' fires;
// the child, a bash script, stamps its start, crashes 300 ms later and stamps its exit.
// Figure: the gap from the first child's exit stamp to the second child's start stamp,
// both taken by the children themselves ($EPOCHREALTIME, no fork).
//
//   --impl native | forever-monitor   supervise the child with max: 2
//   --impl limit                      bash runs the same child twice back to back
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const c = require('../lib/common');

const CHILD = `${c.stamp('S')}; sleep 0.3; ${c.stamp('E')}; exit 1`;

c.runWorker('busy-restart', async ({ impl, quick }) => {
  const blockMs = quick ? 1000 : 3000;
  const dir = c.tmpDir('busy');
  const stamps = path.join(dir, 'stamps');
  fs.writeFileSync(stamps, '');
  try {
    if (impl === 'limit') {
      execFileSync('bash', ['-c', 'for i in 1 2; do bash -c "$CHILD"; done; exit 0'], {
        env: { ...process.env, CHILD, STAMPS: stamps },
        stdio: 'ignore',
        timeout: 10000,
      });
      const gaps = c.exitToStartGaps(c.readStamps(stamps));
      if (gaps.length !== 1)
        throw new Error(`expected 2 runs in ${stamps}, got ${fs.readFileSync(stamps, 'utf8')}`);
      return { gapMs: gaps[0], blockMs };
    }

    const { Monitor } = c.loadImpl(impl);
    const m = new Monitor(['bash', '-c', CHILD], { max: 2, silent: true, env: { STAMPS: stamps } });
    let blockEndUs = 0;
    m.once('start', () => {
      const until = Date.now() + blockMs;
      while (Date.now() < until) {
        /* the host's JS thread is busy */
      }
      blockEndUs = c.epochMicros();
    });
    const exited = c.next(m, 'exit', 20000 + blockMs, "'exit' after two runs");
    m.on('error', (err) => {
      throw err;
    });
    m.start();
    await exited;
    const s = c.readStamps(stamps);
    const gaps = c.exitToStartGaps(s);
    if (gaps.length !== 1) throw new Error(`expected two runs, stamps: ${JSON.stringify(s)}`);
    const secondStart = s.filter((x) => x.tag === 'S')[1].us;
    return {
      gapMs: gaps[0],
      blockMs,
      // Was the second child already running before the host's JS thread was free again?
      restartedWhileBlocked: secondStart < blockEndUs,
    };
  } finally {
    c.rmrf(dir);
  }
});
