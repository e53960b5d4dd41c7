// A small HTTP/1.1 keep-alive client for the load generator: one request at a time per
// connection, each written in one write, answers read by Content-Length (or chunked). The
// load generator shares the two cores with the gateway and Postgres, as pgbench's C client
// shares them with Postgres in the baseline, so every microsecond it spends is taken from
// what it measures. Only what the benchmark's own servers answer is supported.
import { connect, type Socket } from 'node:net';

export interface Answer {
  status: number;
  body: string;
}

interface Pending {
  data: string;
  resolve: (a: Answer) => void;
  reject: (e: Error) => void;
}

const HEAD_END = Buffer.from('\r\n\r\n');
/** Longest answer accepted (the benchmark's answers are a few kB). */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

class Connection {
  private readonly socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private current: Pending | null = null;
  private closed = false;

  constructor(private readonly pool: Http1Pool, host: string, port: number) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const gone = (err?: Error) => {
      if (this.closed) return;
      this.closed = true;
      this.pool.lost(this);
      this.current?.reject(err ?? new Error('connection closed before the answer'));
      this.current = null;
    };
    this.socket.on('error', gone);
    this.socket.on('close', () => gone());
  }

  send(p: Pending): void {
    this.current = p;
    this.socket.write(p.data);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.buf.length > MAX_ANSWER_BYTES) return void this.socket.destroy(new Error('answer too large'));
    const end = this.buf.indexOf(HEAD_END);
    if (end < 0 || !this.current) return;
    const head = this.buf.toString('latin1', 0, end).toLowerCase();
    const status = Number(head.slice(9, 12));
    const start = end + 4;
    let body: string;
    let rest: number;
    const cl = /\r\ncontent-length: *(\d+)/.exec(head);
    if (cl) {
      rest = start + Number(cl[1]);
      if (this.buf.length < rest) return;
      body = this.buf.toString('utf8', start, rest);
    } else if (/\r\ntransfer-encoding: *chunked/.test(head)) {
      const parts: Buffer[] = [];
      let at = start;
      for (;;) {
        const eol = this.buf.indexOf('\r\n', at, 'latin1');
        if (eol < 0) return;
        const size = parseInt(this.buf.toString('latin1', at, eol), 16);
        if (!(size >= 0)) return void this.socket.destroy(new Error('bad chunk size'));
        if (this.buf.length < eol + 2 + size + 2) return;
        if (size === 0) {
          rest = eol + 4; // no trailers from these servers
          break;
        }
        parts.push(this.buf.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
      }
      body = Buffer.concat(parts).toString('utf8');
    } else if (status === 204 || status === 304) {
      rest = start;
      body = '';
    } else return void this.socket.destroy(new Error('answer without a length'));
    this.buf = this.buf.subarray(rest);
    const p = this.current;
    this.current = null;
    if (/\r\nconnection: *close/.test(head)) this.socket.destroy();
    else this.pool.release(this);
    p.resolve({ status, body });
  }
}

export class Http1Pool {
  private readonly idle: Connection[] = [];
  private readonly waiting: Pending[] = [];
  private readonly open = new Set<Connection>();
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;

  constructor(origin: string, private readonly maxConnections: number) {
    const u = new URL(origin);
    this.host = u.hostname;
    this.port = Number(u.port || 80);
    this.hostHeader = u.host;
  }

  request(method: string, path: string, headers: Record<string, string>, body: string | undefined): Promise<Answer> {
    let data = `${method} ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n`;
    for (const k in headers) data += `${k}: ${headers[k]}\r\n`;
    data += body === undefined ? '\r\n' : `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    return new Promise<Answer>((resolve, reject) => {
      const p = { data, resolve, reject };
      const c = this.idle.pop();
      if (c) c.send(p);
      else if (this.open.size < this.maxConnections) {
        const fresh = new Connection(this, this.host, this.port);
        this.open.add(fresh);
        fresh.send(p);
      } else this.waiting.push(p);
    });
  }

  /** A connection that finished its answer takes the next waiting request, or idles. */
  release(c: Connection): void {
    const next = this.waiting.shift();
    if (next) c.send(next);
    else this.idle.push(c);
  }

  /** A connection that closed or failed leaves the pool; a waiting request gets a new one. */
  lost(c: Connection): void {
    this.open.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    const next = this.waiting.shift();
    if (next) {
      const fresh = new Connection(this, this.host, this.port);
      this.open.add(fresh);
      fresh.send(next);
    }
  }

  close(): void {
    for (const c of this.open) c.destroy();
    this.open.clear();
    this.idle.length = 0;
    for (const p of this.waiting.splice(0)) p.reject(new Error('pool closed'));
  }
}
