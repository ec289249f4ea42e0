// Helpers for the browser tests: real relay and CLI processes, headless Chromium and Firefox
// pages (driver.js), and waiting for conditions with deadlines.
//
// Every process and browser started here is registered and ended by `cleanup()`, which each
// test file calls in `after()`, whatever happened in the tests, and which also runs on exit.

import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { describe, before } from 'node:test';

import { CHROMIUM, FIREFOX, closeBrowsers, launch } from './driver.js';

export { CHROMIUM, FIREFOX };

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The binaries under test, built by `cargo build --workspace --bins`. */
export const RELAY_BIN = path.join(ROOT, 'target', 'debug', 'chitchat-relay');
export const CLI_BIN = path.join(ROOT, 'target', 'debug', 'chitchat');

/**
 * The browsers every scenario runs in (`CHITCHAT_BROWSERS=chromium` or `=firefox` picks
 * one): Debian's packages, never downloaded.
 */
export const BROWSERS = (process.env.CHITCHAT_BROWSERS ?? 'chromium,firefox')
  .split(',')
  .map((b) => b.trim())
  .filter(Boolean);

/** Where screenshots go (gitignored). */
export const SCREENSHOTS = path.join(ROOT, 'test-artifacts', 'screenshots');

/** How long a relay may take to print its READY line: a debug build starts in well under 1 s. */
const READY_TIMEOUT_MS = 20_000;

/** How long a CLI command may take: one connection and one request. */
const CLI_TIMEOUT_MS = 20_000;

/** Default deadline of `waitFor`. */
const WAIT_MS = 15_000;

/** Desktop and phone viewports for screenshots. */
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 780 };

const live = new Set();
const tempDirs = new Set();

/** Fails with a clear message if a binary the tests run is missing. */
export function requireBinary(bin) {
  if (!existsSync(bin)) {
    throw new Error(
      `${bin} is missing: build it first with \`cargo build --workspace --bins\` (from ${ROOT})`,
    );
  }
}

/** A fresh temporary directory, removed by `cleanup()`. */
export function tempDir(prefix) {
  const dir = mkdtempSync(path.join(tmpdir(), `chitchat-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

/**
 * A relay process. `start()` runs it and parses its READY line; `kill()` sends SIGKILL and
 * waits for the exit; `restart()` starts it again on the same ports, data and certs dirs.
 */
export class Relay {
  /** `host`: the loopback address it listens on, '[::1]' by default (or '127.0.0.1'). */
  constructor({ dataDir, certsDir, extraArgs = [], host = '[::1]' } = {}) {
    requireBinary(RELAY_BIN);
    this.host = host;
    this.dataDir = dataDir ?? tempDir('data');
    this.certsDir = certsDir ?? tempDir('certs');
    this.extraArgs = extraArgs;
    this.quicPort = 0;
    this.httpPort = 0;
    this.proc = null;
    this.stderr = [];
  }

  /** Starts the relay (on port 0 the first time, the same ports after) and waits for READY. */
  async start() {
    const args = [
      '--listen', `${this.host}:${this.quicPort}`,
      '--http', `${this.host}:${this.httpPort}`,
      '--data-dir', this.dataDir,
      '--certs-dir', this.certsDir,
      ...this.extraArgs,
    ];
    const proc = spawn(RELAY_BIN, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CHITCHAT_LOG_LEVEL: process.env.CHITCHAT_LOG_LEVEL ?? 'info' },
    });
    this.proc = proc;
    track(proc);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      this.stderr.push(chunk);
      if (process.env.CHITCHAT_TEST_VERBOSE) process.stderr.write(`[relay] ${chunk}`);
    });
    const ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`relay printed no READY line within ${READY_TIMEOUT_MS} ms\n${this.log()}`)),
        READY_TIMEOUT_MS,
      );
      const lines = createInterface({ input: proc.stdout });
      lines.on('line', (line) => {
        const m = /^READY quic=(\S+) http=(\S+)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ quic: m[1], http: m[2] });
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`relay exited (${code ?? signal}) before READY\n${this.log()}`));
      });
    });
    this.quicPort = portOf(ready.quic);
    this.httpPort = portOf(ready.http);
    return this;
  }

  /** The relay address for the CLI. */
  get quicAddr() {
    return `${this.host}:${this.quicPort}`;
  }

  /** The page's URL: localhost, so the page is a secure context and may use WebTransport. */
  get url() {
    return `http://localhost:${this.httpPort}/`;
  }

  /** The dev CA the CLI must trust. */
  get caFile() {
    return path.join(this.certsDir, 'ca.pem');
  }

  /** SIGKILL: no goodbye to anyone. Resolves once the process is gone. */
  async kill() {
    await killProcess(this.proc, 'SIGKILL');
  }

  /** SIGTERM: the graceful shutdown (GoAway, drain). Resolves once the process is gone. */
  async stop() {
    await killProcess(this.proc, 'SIGTERM');
  }

  /** Starts again on the same ports and directories. */
  async restart() {
    return this.start();
  }

  /** The relay's log so far, for failure messages. */
  log() {
    return this.stderr.join('').split('\n').slice(-40).join('\n');
  }
}

function portOf(addr) {
  const m = /:(\d+)$/.exec(addr);
  if (!m) throw new Error(`no port in ${addr}`);
  return Number(m[1]);
}

function track(proc) {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}

async function killProcess(proc, signal) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill(signal);
  await exited;
}

/**
 * The CLI's environment: its guest secrets (open mode) go in a directory of this test run,
 * removed by `cleanup()`, never in the user's own config directory.
 */
function cliEnv() {
  const dir = path.join(tmpdir(), `chitchat-cli-config-${process.pid}`);
  tempDirs.add(dir);
  return { ...process.env, XDG_CONFIG_HOME: dir };
}

/** Runs the CLI once with `args` after the relay options; resolves to its stdout. */
export async function cli(relay, nick, args, { input } = {}) {
  requireBinary(CLI_BIN);
  const full = ['--relay', relay.quicAddr, '--ca', relay.caFile, '--nick', nick, ...args];
  return new Promise((resolve, reject) => {
    const proc = spawn(CLI_BIN, full, { stdio: ['pipe', 'pipe', 'pipe'], env: cliEnv() });
    track(proc);
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    proc.stderr.setEncoding('utf8').on('data', (c) => (err += c));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`chitchat ${full.join(' ')} did not finish within ${CLI_TIMEOUT_MS} ms\n${err}`));
    }, CLI_TIMEOUT_MS);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`chitchat ${full.join(' ')} exited with ${code}\n${err}`));
    });
    if (input !== undefined) proc.stdin.end(input);
    else proc.stdin.end();
  });
}

/**
 * A long-running `chitchat chat ROOM` with piped stdin: `say(line)` sends a line; `lines`
 * holds what it printed; `close()` ends stdin and waits for the exit.
 */
export function cliChat(relay, nick, room) {
  requireBinary(CLI_BIN);
  const proc = spawn(
    CLI_BIN,
    ['--relay', relay.quicAddr, '--ca', relay.caFile, '--nick', nick, 'chat', room],
    { stdio: ['pipe', 'pipe', 'pipe'], env: cliEnv() },
  );
  track(proc);
  const lines = [];
  const errors = [];
  createInterface({ input: proc.stdout }).on('line', (l) => lines.push(l));
  createInterface({ input: proc.stderr }).on('line', (l) => errors.push(l));
  return {
    proc,
    lines,
    errors,
    say(line) {
      proc.stdin.write(`${line}\n`);
    },
    async close() {
      const exited = new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) resolve();
        else proc.once('exit', resolve);
      });
      proc.stdin.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Debian's Redis, for tests of relays sharing one (a cluster). */
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** How long a starting Redis may take to answer PING: it answers within milliseconds. */
const REDIS_READY_MS = 20_000;

/**
 * A `redis-server` of the test's own on a free loopback port, keeping nothing on disk.
 * Resolves to `{url, port, pause, resume}` once it answers PING; `cleanup()` kills it.
 */
export async function startRedis() {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} is missing: install Debian's redis-server package`);
  }
  const port = await freePort();
  const dir = tempDir('redis');
  const proc = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  track(proc);
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (c) => (err += c));
  await waitFor(`redis-server on port ${port} to answer PING`, async () => {
    if (proc.exitCode !== null) throw new Error(`redis-server exited: ${err}`);
    return redisPing(port);
  }, { timeout: REDIS_READY_MS });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    /** SIGSTOP: Redis stops answering (a paused or overloaded store) until `resume()`. */
    pause: () => proc.kill('SIGSTOP'),
    resume: () => proc.kill('SIGCONT'),
  };
}

function redisPing(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
    socket.setEncoding('utf8');
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A UDP port on ::1 that takes every packet and answers none, as a firewall that drops UDP
 * does (no ICMP "port unreachable" either, so a QUIC handshake there waits, it does not
 * fail). Resolves to `{port, close()}`; `cleanup()` closes it.
 */
export async function udpBlackHole() {
  const socket = createSocket({ type: 'udp6', ipv6Only: true });
  socket.on('message', () => {});
  await new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '::1', resolve);
  });
  const hole = {
    port: socket.address().port,
    close: () => new Promise((resolve) => socket.close(resolve)),
  };
  live.add(hole);
  return hole;
}

/** A TCP port free right now on 127.0.0.1. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` (sync or async) until it returns a truthy value, or fails after `timeout`. */
export async function waitFor(what, check, { timeout = WAIT_MS, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : last === undefined ? '' : ` (last: ${JSON.stringify(last)})`;
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** The browser `launchBrowser()` starts: set per suite by `describeBrowsers`. */
let currentBrowser = BROWSERS[0] ?? 'chromium';

/** The page's transport setting in the running suite: 'auto', or 'websocket' (forced). */
let currentTransport = 'auto';

/** The browser the running suite drives ('chromium' or 'firefox'). */
export function browserName() {
  return currentBrowser;
}

/**
 * `describe(name, body)` once per browser in BROWSERS, named "NAME (BROWSER)": inside,
 * `launchBrowser()` starts that browser. With `{websocket: true}` each browser runs it a
 * second time with the page's transport setting forced to WebSocket ("NAME (BROWSER,
 * WebSocket)"): `openChat` opens the page with `?transport=websocket`.
 */
export function describeBrowsers(name, body, { websocket = false } = {}) {
  for (const browser of BROWSERS) {
    for (const transport of websocket ? ['auto', 'websocket'] : ['auto']) {
      const label = transport === 'websocket' ? `${browser}, WebSocket` : browser;
      describe(`${name} (${label})`, () => {
        before(() => {
          currentBrowser = browser;
          currentTransport = transport;
        });
        body(browser, transport);
      });
    }
  }
}

/**
 * A fresh context (a profile of its own) in the suite's headless browser (see
 * `describeBrowsers`), which starts on first use and stops in `cleanup`. Its pages share
 * localStorage, as tabs of one browser do. `context.transport` is the page setting `openChat`
 * applies ('auto' or 'websocket').
 */
export async function launchBrowser({
  viewport = DESKTOP,
  colorScheme = 'light',
  browser = currentBrowser,
  transport = currentTransport,
} = {}) {
  const context = await launch(browser, { viewport, colorScheme });
  context.transport = transport;
  live.add(context);
  context.on('close', () => live.delete(context));
  return context;
}

/**
 * Browsers log failed connection attempts themselves (a relay being down is a test case);
 * those are not the page's errors. Firefox reports a WebSocket that cannot connect, or that
 * a reload interrupts, as an uncaught error of the page.
 */
const NETWORK_NOISE = /WebTransport|net::ERR_|Failed to load resource|Failed to fetch|NetworkError|WebSocket connection to/;
const WEBSOCKET_NOISE = /can.t establish a connection to the server at wss?:|The connection to wss?:.* was interrupted/;

/** Collects the page's uncaught exceptions and console errors (network noise aside), to fail on them. */
export function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => {
    if (!WEBSOCKET_NOISE.test(e.message)) errors.push(`pageerror: ${e.message}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && !NETWORK_NOISE.test(m.text()) && !WEBSOCKET_NOISE.test(m.text())) {
      errors.push(`console: ${m.text()}`);
    }
  });
  return errors;
}

/**
 * Saves a screenshot under test-artifacts/screenshots/BROWSER/NAME.png, once no CSS
 * transition is running (drawers slide when the width changes).
 */
export async function screenshot(page, name) {
  const dir = path.join(SCREENSHOTS, page.context.name);
  mkdirSync(dir, { recursive: true });
  await page.waitForFunction(() =>
    document.getAnimations().every((a) => !(a instanceof CSSTransition) || a.playState !== 'running'),
  );
  await page.screenshot({ path: path.join(dir, `${name}.png`) });
}

/** Ends every process and browser this module started, and removes its temp dirs. */
export async function cleanup() {
  const all = [...live];
  live.clear();
  await Promise.all(
    all.map(async (thing) => {
      try {
        if (typeof thing.close === 'function' && !('pid' in thing)) await thing.close();
        else await killProcess(thing, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }),
  );
  await closeBrowsers();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

// A test run that dies (an uncaught error, ^C) still kills its relays and CLIs.
process.once('exit', () => {
  for (const thing of live) {
    if ('pid' in thing && thing.exitCode === null) {
      try {
        thing.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});

/** Whether a process is still running (for assertions on cleanup). */
export function running(pid) {
  return spawnSync('kill', ['-0', String(pid)]).status === 0;
}
