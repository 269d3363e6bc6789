// The README and docs/ say nothing this suite does not try. Every fenced block of README.md
// and docs/*.md is found here, and each block but a ```text one (output shown, a file's
// contents) carries a marker on the line before it, an HTML comment that GitHub does not show:
//
//   <!-- doc-test: run -->                      run here: a ```js block in a scratch project
//                                               (fixtures below, forever-native linked to
//                                               this checkout) until it exits by itself, with
//                                               code 0; a ```sh block in the checkout
//   <!-- doc-test: run-until-done -->           a ```js block run until its last statement is
//                                               done (awaits included) without an error; the
//                                               host then exits, and its children with it
//   <!-- doc-test: run, its output below -->    the same, and the ```text block after it is
//                                               what it prints (numbers may differ)
//   <!-- doc-test: run-with NAME -->            run here, driven by the scenario NAME below
//   <!-- doc-test: ci -->                       the commands .ci/run runs, exactly
//   <!-- doc-test: covered-by FILE "TEST" -->   a test of that name in FILE does the same
//   <!-- doc-test: flags: WHY NOT RUN -->       only forever-native commands, whose flags and
//                                               values the CLI must accept; not run, and why
//   <!-- doc-test: illustrative: WHY -->        not run here, and why (root, systemd, docker,
//                                               the registry, a reader's own program)
//
// Whatever the marker, every forever-native command in a block (comments included) must be
// accepted by bin/forever-native.js, every ```js block must compile and require only Node's
// modules and this package's shipped entry points, every ```json block must parse, and a
// ```text block must not hide a command. Beside the blocks: every relative link and anchor
// resolves, each docs page opens with a contents list of its sections, every CLI flag is
// documented in docs/cli.md and every flag docs/cli.md shows exists, the README stays a
// front door (at most 200 lines), and examples/ (which only a checkout has) never says npx.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const vm = require('vm');
const { spawn, spawnSync } = require('child_process');
const { builtinModules } = require('module');

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'forever-native.js');
const PKG = require('../package.json');
const { freePort } = require('./helpers');

const PAGES = ['README.md'].concat(
  fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
);
const read = (page) => fs.readFileSync(path.join(ROOT, page), 'utf8');

/** The environment of a user's shell: none of the outer `npm test`'s settings. */
function userEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'NODE_TEST_CONTEXT' && key !== 'INIT_CWD') env[key] = value;
  }
  return Object.assign(env, extra);
}

// ---------------------------------------------------------------------------------------
// Reading the pages

const LANGUAGES = ['sh', 'js', 'json', 'ini', 'dockerfile', 'yaml', 'text'];

/** The fenced blocks of a page: { page, line, lang, code, marker, next }. */
function blocksOf(page) {
  const lines = read(page).split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && lines[end] !== '```') end++;
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    const marker = before >= 0 ? /^<!-- doc-test: (.*) -->$/.exec(lines[before].trim()) : null;
    blocks.push({
      page,
      line: i + 1,
      lang: open[1],
      code: lines.slice(i + 1, end).join('\n'),
      marker: marker ? marker[1] : null,
    });
    i = end;
  }
  blocks.forEach((b, n) => (b.next = blocks[n + 1]));
  return blocks;
}

const BLOCKS = PAGES.flatMap(blocksOf);
const where = (b) => `${b.page}:${b.line}`;

/** A marker's kind and the rest: { kind, arg }. */
function parseMarker(marker) {
  const m =
    /^(run, its output below|run-until-done|run-with|run|ci|covered-by|flags:|illustrative:)\s*(.*)$/.exec(
      marker,
    );
  return m ? { kind: m[1].replace(/:$/, ''), arg: m[2].trim() } : null;
}

/** Words of a shell line, with quotes taken off; stops at a comment, `&&`, `|`, `;` or `>`. */
function shellWords(line) {
  const words = [];
  let word = null;
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = null;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word = word || '';
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (word === null && (c === '#' || c === ';' || c === '|' || c === '>' || c === '&')) {
      break;
    } else word = (word || '') + c;
  }
  if (word !== null) words.push(word);
  return words;
}

/**
 * Where a forever-native command starts in `words`, or -1: `forever-native` as the command
 * (or after `npx`), `node_modules/.bin/forever-native`, or a `node` running
 * `…/bin/forever-native.js`. A `cd forever-native` or an `npm install forever-native` is none.
 */
function commandAt(words) {
  return words.findIndex((word, i) => {
    const before = i > 0 ? words[i - 1] : null;
    if (word === 'forever-native') return before === null || before === 'npx';
    if (/(^|\/)\.bin\/forever-native$/.test(word)) return before === null;
    if (/(^|\/)bin\/forever-native\.js$/.test(word)) return /(^|\/)node$/.test(before || '');
    return false;
  });
}

/**
 * The forever-native commands in a block: arrays of the arguments after the command, from
 * shell lines (a `\` continues a line), `ExecStart=` lines, `CMD [...]` arrays, and the
 * same inside comments (`# or: …`, `# in a project: …`).
 */
function commandsIn(code) {
  const found = [];
  for (const line of code.replace(/\\\n\s*/g, ' ').split('\n')) {
    const parts = [line].concat(line.includes('#') ? [line.slice(line.indexOf('#') + 1)] : []);
    for (const part of parts) {
      const array = /\[\s*"[^\]]*\]/.exec(part);
      const words = array
        ? JSON.parse(array[0])
        : shellWords(part.replace(/^\s*(or|in a project):\s*/, '').replace(/^[A-Za-z]+=/, ''));
      const at = commandAt(words);
      if (at >= 0) found.push(words.slice(at + 1));
    }
  }
  return found;
}

/** Runs bin/forever-native.js with `args`; resolves { code, stdout, stderr }. */
function runCli(args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: userEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...options,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs `jobs` (functions returning promises), `width` at a time. */
async function pool(jobs, width = 4) {
  const results = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const n = next++;
        results[n] = await jobs[n]();
      }
    }),
  );
  return results;
}

/**
 * Whether the CLI accepts `args` as options: `--help` in front makes it parse every option up
 * to the script (names and values) and print the help instead of running anything.
 */
async function accepted(args) {
  const r = await runCli(['--help', ...args]);
  return r.code === 0 ? null : r.stderr.trim();
}

// ---------------------------------------------------------------------------------------
// Every block is accounted for

test('every fenced block has a known language and a marker saying how it is tried', () => {
  assert.ok(BLOCKS.length > 30, `only ${BLOCKS.length} blocks found`);
  const problems = [];
  for (const b of BLOCKS) {
    if (!LANGUAGES.includes(b.lang)) problems.push(`${where(b)}: language "${b.lang}"`);
    if (b.lang === 'text') {
      if (b.marker) problems.push(`${where(b)}: a text block is not run; drop its marker`);
      const command = b.code
        .split('\n')
        .find((l) => /^\s*(\$ |npm |npx |node |forever-native\s)/.test(l));
      if (command) problems.push(`${where(b)}: a command in a text block: ${command}`);
      continue;
    }
    const marker = b.marker && parseMarker(b.marker);
    if (!marker) {
      problems.push(`${where(b)}: no <!-- doc-test: … --> marker (or an unknown one: ${b.marker})`);
      continue;
    }
    if ((marker.kind === 'illustrative' || marker.kind === 'flags') && marker.arg.length < 15)
      problems.push(`${where(b)}: say why it is not run`);
    if (marker.kind === 'run, its output below' && (!b.next || b.next.lang !== 'text'))
      problems.push(`${where(b)}: no text block follows with the output`);
    if (
      marker.kind === 'flags' &&
      b.code.split('\n').some((l) => l.trim() && !commandsIn(l).length)
    )
      problems.push(`${where(b)}: "flags" is for blocks of forever-native commands only`);
  }
  assert.deepEqual(problems, []);
});

test('covered-by markers name a test that exists', () => {
  const problems = [];
  for (const b of BLOCKS) {
    const marker = b.marker && parseMarker(b.marker);
    if (!marker || marker.kind !== 'covered-by') continue;
    const m = /^(\S+) "(.+)"$/.exec(marker.arg);
    if (!m) {
      problems.push(`${where(b)}: covered-by FILE "TEST NAME"`);
      continue;
    }
    const file = path.join(ROOT, m[1]);
    if (!fs.existsSync(file)) problems.push(`${where(b)}: no ${m[1]}`);
    else if (!fs.readFileSync(file, 'utf8').includes(m[2]))
      problems.push(`${where(b)}: no test "${m[2]}" in ${m[1]}`);
  }
  assert.deepEqual(problems, []);
});

test("the README's set-up block is exactly what CI runs (.ci/run)", () => {
  const ci = BLOCKS.filter((b) => b.marker === 'ci');
  assert.deepEqual(
    ci.map((b) => b.page),
    ['README.md'],
  );
  const commands = (text) =>
    text
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l && !l.startsWith('#') && !/^(set|cd) /.test(l));
  assert.deepEqual(commands(ci[0].code), commands(read('.ci/run')));
});

// ---------------------------------------------------------------------------------------
// Commands and flags

test('every forever-native command in the README and docs/ is accepted by the CLI', async () => {
  const commands = BLOCKS.filter((b) => b.lang !== 'text').flatMap((b) =>
    commandsIn(b.code).map((args) => ({ b, args })),
  );
  assert.ok(commands.length >= 10, `only ${commands.length} commands found`);
  const results = await pool(
    commands.map(
      ({ args }) =>
        () =>
          accepted(args),
    ),
  );
  assert.deepEqual(
    commands
      .map(({ b, args }, n) => results[n] && `${where(b)}: ${args.join(' ')}: ${results[n]}`)
      .filter(Boolean),
    [],
  );
});

/** The CLI's flags, from its --help: ['--max', '-m', …]. */
function helpFlags() {
  const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' }).stdout;
  const flags = new Set();
  for (const line of help.split('\n')) {
    const m = /^\s+(?:(-\w), )?\s*(--[\w-]+)/.exec(line);
    if (m) {
      if (m[1]) flags.add(m[1]);
      flags.add(m[2]);
    }
  }
  return flags;
}

test('docs/cli.md shows every flag of the CLI, and every flag it shows exists', async () => {
  const flags = helpFlags();
  assert.ok(flags.size > 40, `only ${flags.size} flags read from --help`);
  const page = read('docs/cli.md');
  const shown = new Set();
  for (const [, code] of page.matchAll(/`([^`\n]+)`/g)) {
    const first = code.split(/[\s=]/)[0];
    if (/^--?[a-zA-Z][\w-]*$/.test(first)) shown.add(first);
  }
  // `--port`: the example script's own argument (`app.js --port 8080`), not the CLI's.
  for (const own of ['--port']) shown.delete(own);
  const missing = [...flags].filter((f) => !shown.has(f));
  assert.deepEqual(missing, [], 'flags of the CLI that docs/cli.md does not show');
  // A flag shown but not in --help is asked of the CLI itself: only "unknown option" fails.
  const unknown = [];
  for (const flag of [...shown].filter((f) => !flags.has(f))) {
    const r = await runCli(['--help', flag]);
    if (/unknown option/.test(r.stderr)) unknown.push(flag);
  }
  assert.deepEqual(unknown, [], 'flags docs/cli.md shows that the CLI does not know');
});

test('examples/ (only in a checkout) runs the CLI as node bin/forever-native.js, never npx', async () => {
  let commands = 0;
  for (const file of fs.readdirSync(path.join(ROOT, 'examples'))) {
    const text = fs.readFileSync(path.join(ROOT, 'examples', file), 'utf8');
    assert.doesNotMatch(text, /\bnpx\b/, `examples/${file}`);
    // The commands in its doc comment, ` * ` taken off each line.
    const comment = text.replace(/^\s*(\*|\/\/)\s?/gm, '');
    for (const args of commandsIn(comment)) {
      commands++;
      assert.equal(await accepted(args), null, `examples/${file}: ${args.join(' ')}`);
    }
  }
  assert.ok(commands >= 2, `${commands} commands in examples/`);
});

test('no block run in the checkout says npx', () => {
  for (const b of BLOCKS.filter((x) => x.marker && x.marker.startsWith('run')))
    assert.doesNotMatch(b.code, /\bnpx\b/, where(b));
});

// ---------------------------------------------------------------------------------------
// JavaScript and JSON

/** Whether `specifier` is Node's, or this package's name or a file it ships. */
function requirable(specifier) {
  const bare = specifier.replace(/^node:/, '');
  if (builtinModules.includes(bare)) return true;
  if (specifier === PKG.name) return true;
  if (!specifier.startsWith(`${PKG.name}/`)) return false;
  const sub = specifier.slice(PKG.name.length + 1);
  const file = sub.endsWith('.js') ? sub : `${sub}.js`;
  return PKG.files.some((f) => f === file || (f.endsWith('/') && file.startsWith(f)));
}

test('every js block compiles and requires only Node and what this package ships', () => {
  const js = BLOCKS.filter((b) => b.lang === 'js');
  assert.ok(js.length >= 8, `only ${js.length} js blocks`);
  for (const b of js) {
    // Top-level await is used in examples: compile as the body of an async function.
    assert.doesNotThrow(
      () => new vm.Script(`(async function () {\n${b.code}\n})`, { filename: where(b) }),
      where(b),
    );
    const code = b.code.replace(/\/\/.*$/gm, ''); // `// was: require('forever-monitor')`
    for (const [, specifier] of code.matchAll(/require\(\s*['"]([^'"]+)['"]\s*\)/g))
      assert.ok(requirable(specifier), `${where(b)}: require('${specifier}')`);
  }
});

test('every json block parses', () => {
  const json = BLOCKS.filter((b) => b.lang === 'json');
  assert.ok(json.length >= 1);
  for (const b of json) assert.doesNotThrow(() => JSON.parse(b.code), where(b));
});

// ---------------------------------------------------------------------------------------
// Blocks run here

/**
 * A scratch project: forever-native linked to this checkout, and the scripts the examples
 * name. A `8080` in an example run here is a free port instead, which 8080 may not be here.
 */
function scratchProject(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forever-native-docs-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', PKG.name), 'dir');
  // app.js: the script of the first examples, which crashes at once.
  fs.writeFileSync(path.join(dir, 'app.js'), 'process.exit(1);\n');
  // server.js: an HTTP server on the `listen` socket named http if it has one (else a port of
  // its own), with the child's side of the health checks as docs/health.md shows it.
  fs.writeFileSync(
    path.join(dir, 'server.js'),
    `
const http = require('http');
const net = require('net');
const child = require('forever-native/child');
const server = http.createServer((req, res) => res.end('hello from pid ' + process.pid + '\\n'));
const fd = child.listenFd('http');
server.listen(fd === null ? 0 : { fd }, () => child.ready());
child.heartbeat();
child.onShutdown(() => net.Server.prototype.close.call(server, () => process.exit(0)));
`,
  );
  return dir;
}

function runNode(file, cwd, timeout = 60000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], {
      cwd,
      env: userEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Whether `actual` (each stream's lines in order) shows every line of a sample output: a
 * number in the sample matches any number, `...` stands for any lines, and the lines of
 * stdout and stderr keep their own order (they are two pipes).
 */
function showsSample(sample, streams) {
  const cursors = streams.map(() => 0);
  const missing = [];
  for (const line of sample.split('\n')) {
    if (line.trim() === '...' || line.trim() === '') continue;
    const pattern = new RegExp(
      `^${line
        .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        .replace(/\d+(?:\\\.\d+)?/g, '\\d+(?:\\.\\d+)?')}$`,
    );
    const hit = streams.findIndex((lines, s) => {
      const at = lines.findIndex((l, n) => n >= cursors[s] && pattern.test(l));
      if (at < 0) return false;
      cursors[s] = at + 1;
      return true;
    });
    if (hit < 0) missing.push(line);
  }
  return missing;
}

for (const b of BLOCKS.filter((x) => x.lang === 'js' && /^run(-until-done)?$/.test(x.marker))) {
  const untilDone = b.marker === 'run-until-done';
  test(`${where(b)}: the example runs${untilDone ? ' to its last line' : ' and ends by itself'}`, async (t) => {
    const dir = scratchProject(t);
    const file = path.join(dir, 'example.js');
    const code = b.code.replace(/\b8080\b/g, String(await freePort()));
    const done = untilDone ? 'process.exit(0);' : '';
    fs.writeFileSync(
      file,
      `(async function () {\n${code}\n})().then(() => { ${done} }, (err) => { console.error(err); process.exit(1); });\n`,
    );
    const r = await runNode(file, dir);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  });
}

for (const b of BLOCKS.filter((x) => x.lang === 'sh' && /^run(,|$)/.test(x.marker || ''))) {
  test(`${where(b)}: the command runs in the checkout as shown`, { timeout: 90000 }, async () => {
    const commands = commandsIn(b.code);
    const lines = b.code.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
    assert.equal(commands.length, lines.length, `${where(b)}: only forever-native commands run`);
    for (const args of commands) {
      const r = await runCli(args, { timeout: 60000 });
      assert.notEqual(r.code, 2, `usage error: ${r.stderr}`);
      assert.equal(r.signal, null, `killed (${r.signal}): ${r.stdout}\n${r.stderr}`);
      if (b.marker === 'run, its output below') {
        const missing = showsSample(b.next.code, [r.stderr.split('\n'), r.stdout.split('\n')]);
        assert.deepEqual(missing, [], `not shown:\n${r.stdout}\n${r.stderr}`);
      }
    }
  });
}

/** Scenarios for commands that run until told to stop (`run-with NAME`). */
const SCENARIOS = {
  /**
   * A server behind --listen with --reloadOnHup: it answers, SIGHUP reloads it (a new pid
   * answers), SIGTERM stops it with exit code 0. The port is one the system picks, not the
   * one shown, which may be taken here.
   */
  async reload(args, t) {
    const addr = args.findIndex((a) => a === '--listen');
    const shown = args[addr + 1];
    args = args.slice();
    args[addr + 1] = shown.replace(/:\d+$/, ':0');
    const child = spawn(process.execPath, [BIN, '--json', ...args], {
      cwd: ROOT,
      env: userEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    const events = [];
    let wake = () => {};
    let rest = '';
    child.stderr.on('data', (d) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop();
      for (const l of lines) if (l.startsWith('{')) events.push(JSON.parse(l));
      wake();
    });
    const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
    const when = async (match, what) => {
      for (;;) {
        const e = events.find(match);
        if (e) return e;
        const woke = new Promise((resolve) => (wake = resolve));
        if (
          (await Promise.race([woke, exited.then(() => 'exited')])) === 'exited' &&
          !events.find(match)
        )
          throw new Error(`the CLI exited before ${what}: ${JSON.stringify(events)}`);
      }
    };
    const listening = await when((e) => e.event === 'listening', 'listening');
    const { address, port } = listening.sockets[0];
    await when((e) => e.event === 'ready', 'ready');
    const first = await (await fetch(`http://${address}:${port}/`)).text();
    child.kill('SIGHUP');
    await when((e) => e.event === 'reload' && e.phase === 'done', 'the reload');
    const second = await (await fetch(`http://${address}:${port}/`)).text();
    assert.match(first, /^hello from pid \d+/);
    assert.match(second, /^hello from pid \d+/);
    assert.notEqual(first, second, 'a new child answers after the reload');
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  },
};

for (const b of BLOCKS.filter((x) => (x.marker || '').startsWith('run-with '))) {
  const name = b.marker.slice('run-with '.length);
  test(`${where(b)}: the command runs in the checkout (${name})`, { timeout: 60000 }, async (t) => {
    assert.ok(SCENARIOS[name], `no scenario ${name}`);
    const commands = commandsIn(b.code);
    assert.equal(commands.length, 1);
    await SCENARIOS[name](commands[0], t);
  });
}

// ---------------------------------------------------------------------------------------
// Links, contents, size

/** GitHub's anchor for a heading. */
function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown file's headings (outside code blocks). */
function anchorsOf(file) {
  const anchors = new Set();
  const seen = new Map();
  let code = false;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) code = !code;
    const m = !code && /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]);
    const n = seen.get(base) || 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** The links of a page outside code blocks: [text](target). */
function linksOf(page) {
  const text = read(page).replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
  return [...text.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

test('every relative link in the README and docs/ leads to a file, and to a heading there', () => {
  const problems = [];
  for (const page of PAGES.concat(['bench/README.md'])) {
    for (const link of linksOf(page)) {
      if (/^[a-z]+:/.test(link)) continue;
      const [target, anchor] = link.split('#');
      const file = target
        ? path.resolve(path.dirname(path.join(ROOT, page)), target)
        : path.join(ROOT, page);
      if (!fs.existsSync(file)) problems.push(`${page}: ${link}: no such file`);
      else if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(file).has(anchor))
        problems.push(`${page}: ${link}: no such heading`);
    }
  }
  assert.deepEqual(problems, []);
});

test('each docs page opens with a title and a contents list of its sections, in order', () => {
  for (const page of PAGES.filter((p) => p.startsWith('docs/'))) {
    const lines = read(page).split('\n');
    assert.match(lines[0], /^# \S/, `${page}: a # title first`);
    let code = false;
    const sections = [];
    for (const line of lines) {
      if (line.startsWith('```')) code = !code;
      const m = !code && /^## (.*)$/.exec(line);
      if (m) sections.push(m[1]);
    }
    const firstSection = lines.findIndex((l) => l.startsWith('## '));
    const contents = lines
      .slice(1, firstSection)
      .map((l) => /^- \[(.*)\]\(#([^)]+)\)$/.exec(l))
      .filter(Boolean)
      .map((m) => [m[1].replace(/`/g, ''), m[2]]);
    assert.deepEqual(
      contents,
      sections.map((s) => [s.replace(/`/g, ''), slug(s)]),
      `${page}: its contents list`,
    );
  }
});

test('the README is a front door: at most 200 lines, with the contents of docs/', () => {
  const readme = read('README.md');
  assert.ok(readme.split('\n').length <= 200, `${readme.split('\n').length} lines`);
  for (const page of PAGES.filter((p) => p.startsWith('docs/') && p !== 'docs/README.md'))
    assert.ok(readme.includes(`](${page})`), `README.md does not link ${page}`);
});

test("the README's clone URL is package.json's repository", () => {
  const url = PKG.repository.url.replace(/^git\+/, '');
  for (const b of BLOCKS.filter((x) => /git clone/.test(x.code)))
    assert.ok(b.code.includes(`git clone ${url}`), `${where(b)} clones another URL than ${url}`);
});
