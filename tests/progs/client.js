#!/usr/bin/env node
// client.js - short-connection Node.js client for Redis and memcached (core
// modules only), for twpool tests.
//
//   client.js --proto redis|memcached --port P [-n N] [--prefix P]
//
// Cycle i opens a net.Socket to 127.0.0.1:P, stores PREFIX-<pid>-<i> = v<i>
// (Redis RESP SET, expecting +OK; memcached set, expecting STORED), reads it
// back (expecting exactly v<i>) and destroys the socket. A failed call or early
// EOF is an error, a wrong reply "crossed"; either way the next cycle
// starts on a fresh connection. The last line on stdout is always
//   requests R errors E crossed X elapsed_ms T rps Q
// with R = 2 x completed cycles. Exit status 0 iff E and X are 0.
'use strict';
const net = require('net');

function parseArgs(argv) {
  const a = { proto: '', port: 0, n: 1000, prefix: 'js' };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (k === '--proto') a.proto = v;
    else if (k === '--port') a.port = Number(v);
    else if (k === '-n') a.n = Number(v);
    else if (k === '--prefix') a.prefix = v;
    else a.proto = '';
  }
  if (!['redis', 'memcached'].includes(a.proto) || !(a.port > 0)) {
    process.stderr.write('usage: client.js --proto redis|memcached --port P [-n N] [--prefix P]\n');
    process.exit(2);
  }
  return a;
}

class Crossed extends Error {}

// One connection: requests written, reply bytes buffered until a whole
// reply of the expected shape is there.
class Conn {
  constructor(port) {
    this.buf = Buffer.alloc(0);
    this.waiter = null;
    this.failure = null;
    this.sock = net.connect({ host: '127.0.0.1', port });
    this.sock.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.wake(); });
    this.sock.on('error', (e) => { this.failure = e; this.wake(); });
    this.sock.on('end', () => { this.failure = this.failure || new Error('EOF before the reply'); this.wake(); });
  }

  opened() {
    return new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
  }

  wake() {
    const w = this.waiter;
    this.waiter = null;
    if (w) w();
  }

  // Resolves with the first reply of buf that parse() accepts.
  async reply(parse) {
    for (;;) {
      const r = parse(this.buf);
      if (r) {
        this.buf = this.buf.subarray(r.used);
        return r.value;
      }
      if (this.failure) throw this.failure;
      await new Promise((resolve) => { this.waiter = resolve; });
    }
  }

  send(s) {
    this.sock.write(s);
  }

  // destroy() closes the fd; end() would shutdown(SHUT_WR) first, a
  // half-close after which no connection can be reused (twpool never pools
  // one: see its "shutdown" discard reason).
  close() {
    if (this.buf.length) throw new Crossed('bytes after the last reply');
    return new Promise((resolve) => { this.sock.once('close', resolve); this.sock.destroy(); });
  }
}

// A CRLF line: { used, value } or null while incomplete.
function lineOf(buf) {
  const i = buf.indexOf('\r\n');
  return i < 0 ? null : { used: i + 2, value: buf.subarray(0, i).toString() };
}

function expectLine(want) {
  return (buf) => {
    const l = lineOf(buf);
    if (l && l.value !== want) throw new Crossed(`got '${l.value}', want '${want}'`);
    return l;
  };
}

// A header line matching re, then a value of the length it gives, CRLF,
// and optionally a trailer line.
function valueOf(re, trailer) {
  return (buf) => {
    const l = lineOf(buf);
    if (!l) return null;
    const m = re.exec(l.value);
    if (!m) throw new Crossed(`unexpected reply '${l.value}'`);
    const len = Number(m[1]), end = l.used + len + 2;
    const tl = trailer ? lineOf(buf.subarray(end)) : { used: 0 };
    if (buf.length < end || !tl) return null;
    if (trailer && tl.value !== trailer) throw new Crossed(`got '${tl.value}', want '${trailer}'`);
    return { used: end + tl.used, value: buf.subarray(l.used, l.used + len).toString() };
  };
}

async function redisCycle(c, key, val) {
  c.send(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${val.length}\r\n${val}\r\n`);
  await c.reply(expectLine('+OK'));
  c.send(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`);
  const got = await c.reply(valueOf(/^\$(\d+)$/));
  if (got !== val) throw new Crossed(`GET ${key}: got '${got}', want '${val}'`);
}

async function memcachedCycle(c, key, val) {
  c.send(`set ${key} 0 0 ${val.length}\r\n${val}\r\n`);
  await c.reply(expectLine('STORED'));
  c.send(`get ${key}\r\n`);
  const got = await c.reply(valueOf(new RegExp(`^VALUE ${key} 0 (\\d+)$`), 'END'));
  if (got !== val) throw new Crossed(`get ${key}: got '${got}', want '${val}'`);
}

async function main() {
  const a = parseArgs(process.argv);
  const t = { done: 0, errors: 0, crossed: 0 };
  const t0 = Date.now();
  for (let i = 0; i < a.n; i++) {
    const key = `${a.prefix}-${process.pid}-${i}`, val = `v${i}`;
    let c = null;
    try {
      c = new Conn(a.port);
      await c.opened();
      await (a.proto === 'redis' ? redisCycle(c, key, val) : memcachedCycle(c, key, val));
      await c.close();
      t.done++;
    } catch (e) {
      if (e instanceof Crossed) t.crossed++; else t.errors++;
      process.stderr.write(`client.js: cycle ${i}: ${e.message}\n`);
      if (c) c.sock.destroy();
    }
  }
  const ms = Date.now() - t0;
  process.stdout.write(`requests ${2 * t.done} errors ${t.errors} crossed ${t.crossed} elapsed_ms ${ms} ` +
                       `rps ${ms ? Math.floor(2 * t.done * 1000 / ms) : 0}\n`);
  process.exitCode = t.errors || t.crossed ? 1 : 0;
}

main();
