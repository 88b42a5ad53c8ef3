/**
 * A fault-injection proxy for the gRPC traffic between the Spanner client and the emulator.
 *
 * It terminates HTTP/2 (a TCP pipe could not see which gRPC method a stream carries: the
 * headers are HPACK-compressed) and re-issues every stream on an upstream HTTP/2 session
 * of its own, one per client-facing session, so that a fault on one side can be shaped
 * precisely: drop connections, hold bytes, or let a Commit land and lose its reply.
 *
 * Listening is done by a plain net.Server that hands sockets to an http2 server which never
 * listens itself: a partition can then close and re-open the port without touching the
 * HTTP/2 machinery, and every TCP connection is seen (and counted) before HTTP/2 starts.
 */
import http2, { ClientHttp2Session, ClientHttp2Stream, Http2Session, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import { Transform, TransformCallback } from 'node:stream';

export const COMMIT_PATH = '/google.spanner.v1.Spanner/Commit';

const LOOPBACK = '127.0.0.1';
const GRPC_UNAVAILABLE = '14';
/** A port freed by a partition is almost always free again at once; a few retries cover the rare clash. */
const RELISTEN_ATTEMPTS = 20;
const RELISTEN_RETRY_MS = 50;

/** What happened to one Commit whose reply the client never got. */
export interface CommitCut {
  /** grpc-status the emulator answered the Commit with (0: it committed; undefined: no answer). */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
  /** Date.now() when the client-facing connection was destroyed. */
  readonly cutAt: number;
}

export interface FaultProxyStats {
  /** TCP connections accepted. */
  readonly connections: number;
  /** HTTP/2 sessions, i.e. connections that spoke HTTP/2. */
  readonly sessions: number;
  /** HTTP/2 streams, i.e. gRPC calls. */
  readonly streams: number;
  readonly commits: number;
  readonly commitsCut: number;
  /** gRPC calls per method name ("Commit", "ExecuteStreamingSql", ...). */
  readonly calls: Readonly<Record<string, number>>;
}

export interface FaultProxy {
  /** "127.0.0.1:PORT", the value for SPANNER_EMULATOR_HOST / settings.emulatorHost. */
  readonly host: string;
  readonly port: number;
  /**
   * Destroys every open connection and stops listening (new connects get ECONNREFUSED) for
   * `ms`, then listens on the same port again. The outage starts synchronously, before this
   * returns, so the promise need not be awaited to be in effect; it resolves once the port
   * accepts again. Overlapping calls extend the outage to the latest end.
   */
  partitionFor(ms: number): Promise<void>;
  /** Ends a partition now (instead of when it was due); resolves once the port accepts again. */
  endPartition(): Promise<void>;
  /**
   * Keeps connections open but forwards nothing, in either direction, for `ms`: headers,
   * data and trailers are held and then released in order. Starts synchronously; resolves
   * when forwarding resumes. HTTP/2 PINGs are still answered (by this proxy), as a stalled
   * backend behind a healthy load balancer would. Overlapping calls extend the freeze.
   */
  freezeFor(ms: number): Promise<void>;
  /**
   * Arms a fault for the next `times` (default 1) Commit calls: each is forwarded in full and
   * answered by the emulator, then the client-facing connection is destroyed instead of the
   * reply being relayed. Resolves, with one entry per cut, when all of them have fired.
   */
  cutAfterNextCommit(options?: { times?: number }): Promise<CommitCut[]>;
  /**
   * Cuts every Commit that arrives in the `ms` from the first one on, the same way (the
   * client's own re-sends of a cut Commit included). Resolves with the cuts when the window closes.
   */
  cutCommitsFor(ms: number): Promise<CommitCut[]>;
  stats(): FaultProxyStats;
  /** Ends everything the proxy started; pending outages resolve, pending cuts reject. */
  close(): Promise<void>;
}

/** Holds callbacks while frozen, then runs them in the order they arrived. */
class Gate {
  private waiting: (() => void)[] = [];
  private shut = false;

  shutNow(): void {
    this.shut = true;
  }

  open(): void {
    this.shut = false;
    const waiting = this.waiting;
    this.waiting = [];
    for (const run of waiting) run();
  }

  whenOpen(run: () => void): void {
    if (this.shut) this.waiting.push(run);
    else run();
  }
}

/**
 * A pass-through that consults the gate per chunk. Holding the transform callback (rather
 * than buffering chunks on the side) keeps order and lets ordinary stream back-pressure,
 * and thus HTTP/2 flow control, stop the sender while frozen.
 */
class Valve extends Transform {
  constructor(private readonly gate: Gate) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.gate.whenOpen(() => {
      if (!this.destroyed) done(null, chunk);
    });
  }

  // End-of-stream is held too, so a frozen half-close cannot overtake held data.
  override _flush(done: TransformCallback): void {
    this.gate.whenOpen(() => {
      if (!this.destroyed) done();
    });
  }
}

/** Copies headers, dropping pseudo-headers except `keep` (node sets the rest from its own session). */
function copyHeaders(headers: IncomingHttpHeaders, keep: readonly string[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || (name.startsWith(':') && !keep.includes(name))) continue;
    out[name] = value;
  }
  return out;
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function unavailableTrailers(message: string): OutgoingHttpHeaders {
  return { 'grpc-status': GRPC_UNAVAILABLE, 'grpc-message': encodeURIComponent(`fault proxy: ${message}`) };
}

/** A complete gRPC error reply in one HEADERS frame, for a stream that got no response yet. */
function respondUnavailable(stream: ServerHttp2Stream, message: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...unavailableTrailers(message) }, { endStream: true });
}

interface CutArm {
  readonly times: number;
  /** Commits this arm may still claim (a claimed one fires once its reply is in). */
  remaining: number;
  readonly cuts: CommitCut[];
  resolve(cuts: CommitCut[]): void;
  reject(error: Error): void;
  /** Called when the first Commit claims this arm (a window's clock starts there), then dropped. */
  onFirstClaim?: () => void;
}

interface Outage {
  endsAt: number;
  timer?: NodeJS.Timeout;
  readonly waiters: { resolve(): void; reject(error: Error): void }[];
}

class Proxy implements FaultProxy {
  readonly host: string;
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Set<Http2Session>();
  private readonly upstreams = new Set<ClientHttp2Session>();
  private readonly upstreamOf = new WeakMap<Http2Session, ClientHttp2Session>();
  // session.socket is a guard object that refuses destroy(); the raw socket is kept here.
  private readonly socketOf = new WeakMap<Http2Session, net.Socket>();
  private accepting: net.Socket | undefined;
  private readonly h2 = http2.createServer();
  private readonly gate = new Gate();
  private readonly arms: CutArm[] = [];
  private partition: Outage | undefined;
  private freeze: Outage | undefined;
  private closed = false;
  private readonly counters = { connections: 0, sessions: 0, streams: 0, commits: 0, commitsCut: 0 };
  private readonly calls: Record<string, number> = {};

  constructor(
    private readonly target: string,
    private readonly server: net.Server,
    readonly port: number,
  ) {
    this.host = `${LOOPBACK}:${port}`;
    server.on('connection', (socket) => this.accept(socket));
    // Listen errors after a partition are reported through partitionFor; an 'error' event
    // with no listener would crash the test process instead.
    server.on('error', () => undefined);
    this.h2.on('session', (session) => this.openSession(session));
    this.h2.on('stream', (stream, headers) => this.relay(stream, headers));
  }

  private accept(socket: net.Socket): void {
    if (this.closed || this.partition) {
      socket.destroy();
      return;
    }
    this.counters.connections++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    // The http2 server creates the session, and emits 'session', synchronously in here.
    this.accepting = socket;
    try {
      this.h2.emit('connection', socket);
    } finally {
      this.accepting = undefined;
    }
  }

  private openSession(session: Http2Session): void {
    this.counters.sessions++;
    this.sessions.add(session);
    if (this.accepting) this.socketOf.set(session, this.accepting);
    // One upstream connection per client connection, so cutting one side cuts exactly the
    // streams a real network fault on that connection would.
    const upstream = http2.connect(`http://${this.target}`);
    this.upstreams.add(upstream);
    this.upstreamOf.set(session, upstream);
    session.on('error', () => undefined);
    upstream.on('error', () => undefined);
    session.on('close', () => {
      this.sessions.delete(session);
      upstream.destroy();
    });
    // The emulator hanging up is passed on: without a proxy the client would see it too.
    upstream.on('close', () => {
      this.upstreams.delete(upstream);
      if (!session.destroyed) session.destroy();
    });
  }

  private relay(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = headers[':path'] ?? '';
    const method = path.slice(path.lastIndexOf('/') + 1);
    this.counters.streams++;
    this.calls[method] = (this.calls[method] ?? 0) + 1;
    // The arm is claimed when the Commit arrives, not when it is answered, so `times`
    // concurrent Commits are each cut exactly once.
    let arm: CutArm | undefined;
    if (path === COMMIT_PATH) {
      this.counters.commits++;
      arm = this.arms.find((candidate) => candidate.remaining > 0);
      if (arm) {
        arm.remaining--;
        const first = arm.onFirstClaim;
        arm.onFirstClaim = undefined;
        first?.();
      }
    }
    stream.on('error', () => undefined);
    const upstream = stream.session ? this.upstreamOf.get(stream.session) : undefined;
    // A Commit that never reaches the emulator gives its claim back: the arm is for a lost reply.
    const notForwarded = (message?: string): void => {
      if (arm) arm.remaining++;
      if (message !== undefined) respondUnavailable(stream, message);
    };
    this.gate.whenOpen(() => {
      if (stream.destroyed) return notForwarded();
      if (!upstream || upstream.destroyed) return notForwarded('no upstream session');
      let request: ClientHttp2Stream;
      try {
        request = upstream.request(copyHeaders(headers, [':method', ':path']), { endStream: false });
      } catch (error) {
        return notForwarded(String(error));
      }
      request.on('error', () => undefined);
      stream.pipe(new Valve(this.gate)).pipe(request);
      if (arm) this.cutAfterReply(stream, request, arm);
      else this.relayReply(stream, request);
    });
  }

  private relayReply(stream: ServerHttp2Stream, request: ClientHttp2Stream): void {
    let trailers: OutgoingHttpHeaders | undefined;
    let upstreamClosed = false;
    let sendTrailersWhenClosed: (() => void) | undefined;
    const down = new Valve(this.gate);
    request.on('trailers', (received: IncomingHttpHeaders) => (trailers = copyHeaders(received, [])));
    request.on('response', (received: IncomingHttpHeaders, flags: number) => {
      this.gate.whenOpen(() => {
        if (stream.destroyed) return;
        const headers = copyHeaders(received, [':status']);
        // Trailers-only reply (an error with no messages): grpc-status is in these headers.
        if ((flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0) return stream.respond(headers, { endStream: true });
        // gRPC's status travels in trailers, which node only sends when asked to wait for them.
        stream.respond(headers, { waitForTrailers: true });
        request.pipe(down).pipe(stream);
      });
    });
    stream.on('wantTrailers', () => {
      const send = (): void =>
        this.gate.whenOpen(() => {
          if (!stream.destroyed) stream.sendTrailers(trailers ?? unavailableTrailers(`upstream stream ended without trailers (rst ${request.rstCode})`));
        });
      if (upstreamClosed) send();
      else sendTrailersWhenClosed = send;
    });
    request.on('close', () => {
      upstreamClosed = true;
      sendTrailersWhenClosed?.();
      this.gate.whenOpen(() => {
        if (stream.destroyed) return;
        if (!stream.headersSent) respondUnavailable(stream, `upstream closed the stream (rst ${request.rstCode})`);
        // Upstream died mid-reply: ending the data makes 'wantTrailers' report UNAVAILABLE.
        else if (!down.writableEnded) down.end();
      });
    });
    // The client gave up (deadline, cancel, lost connection): so does the emulator's stream.
    stream.on('close', () => {
      down.destroy();
      // Gated like everything else: a cancel sent during a freeze arrives when it thaws.
      this.gate.whenOpen(() => {
        if (!request.closed) request.close(http2.constants.NGHTTP2_CANCEL);
      });
    });
  }

  /**
   * The Commit's reply is awaited in full before the cut, so the emulator has decided the
   * transaction for certain; the client's cancel is not passed on, for the same reason.
   */
  private cutAfterReply(stream: ServerHttp2Stream, request: ClientHttp2Stream, arm: CutArm): void {
    let status: IncomingHttpHeaders = {};
    request.on('response', (headers: IncomingHttpHeaders) => (status = headers));
    request.on('trailers', (trailers: IncomingHttpHeaders) => (status = trailers));
    request.resume();
    request.on('close', () => {
      // The socket first, for the same reason as in dropConnections.
      const session = stream.session;
      if (session) this.socketOf.get(session)?.destroy();
      session?.destroy();
      this.counters.commitsCut++;
      const grpcStatus = firstHeader(status['grpc-status']);
      const grpcMessage = firstHeader(status['grpc-message']);
      arm.cuts.push({ grpcStatus: grpcStatus === undefined ? undefined : Number(grpcStatus), grpcMessage, cutAt: Date.now() });
      if (arm.cuts.length < arm.times) return;
      this.arms.splice(this.arms.indexOf(arm), 1);
      arm.resolve(arm.cuts);
    });
  }

  partitionFor(ms: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('fault proxy is closed'));
    return new Promise<void>((resolve, reject) => {
      const endsAt = Date.now() + ms;
      if (this.partition) {
        this.partition.waiters.push({ resolve, reject });
        if (endsAt > this.partition.endsAt) this.schedule(this.partition, endsAt, () => void this.heal());
        return;
      }
      this.partition = { endsAt, waiters: [{ resolve, reject }] };
      this.server.close();
      this.dropConnections();
      this.schedule(this.partition, endsAt, () => void this.heal());
    });
  }

  endPartition(): Promise<void> {
    const outage = this.partition;
    if (!outage) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      outage.waiters.push({ resolve, reject });
      this.schedule(outage, Date.now(), () => void this.heal());
    });
  }

  private async heal(): Promise<void> {
    const outage = this.partition;
    if (!outage || this.closed) return;
    let failure: Error | undefined;
    for (let attempt = 1; attempt <= RELISTEN_ATTEMPTS; attempt++) {
      try {
        await listen(this.server, this.port);
        // close() ran while the port was being re-bound: nothing may listen after close.
        if (this.closed) return void this.server.close();
        failure = undefined;
        break;
      } catch (error) {
        failure = error as Error;
        await new Promise((resolve) => (outage.timer = setTimeout(resolve, RELISTEN_RETRY_MS)));
        if (this.closed) return;
      }
    }
    this.partition = undefined;
    const error = failure && new Error(`fault proxy: could not listen on port ${this.port} again after the partition: ${failure.message}`);
    for (const waiter of outage.waiters) {
      if (error) waiter.reject(error);
      else waiter.resolve();
    }
  }

  freezeFor(ms: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error('fault proxy is closed'));
    return new Promise<void>((resolve, reject) => {
      const endsAt = Date.now() + ms;
      if (this.freeze) {
        this.freeze.waiters.push({ resolve, reject });
        if (endsAt > this.freeze.endsAt) this.schedule(this.freeze, endsAt, () => this.thaw());
        return;
      }
      this.freeze = { endsAt, waiters: [{ resolve, reject }] };
      this.gate.shutNow();
      this.schedule(this.freeze, endsAt, () => this.thaw());
    });
  }

  private thaw(): void {
    const outage = this.freeze;
    this.freeze = undefined;
    this.gate.open();
    for (const waiter of outage?.waiters ?? []) waiter.resolve();
  }

  private schedule(outage: Outage, endsAt: number, end: () => void): void {
    clearTimeout(outage.timer);
    outage.endsAt = endsAt;
    outage.timer = setTimeout(end, Math.max(0, endsAt - Date.now()));
  }

  /** Sockets go first: a session destroyed while its socket lives would still send GOAWAY, which the client takes as a polite goodbye, not a fault. */
  private dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    for (const session of this.sessions) session.destroy();
    for (const upstream of this.upstreams) upstream.destroy();
  }

  cutAfterNextCommit(options: { times?: number } = {}): Promise<CommitCut[]> {
    const times = options.times ?? 1;
    if (!Number.isInteger(times) || times < 1) return Promise.reject(new RangeError(`times must be a positive integer, got ${times}`));
    if (this.closed) return Promise.reject(new Error('fault proxy is closed'));
    const fired = new Promise<CommitCut[]>((resolve, reject) => this.arms.push({ times, remaining: times, cuts: [], resolve, reject }));
    // Marked handled so that close() with an unawaited arm does not crash the test process;
    // a caller who awaits still gets the rejection.
    fired.catch(() => undefined);
    return fired;
  }

  cutCommitsFor(ms: number): Promise<CommitCut[]> {
    if (this.closed) return Promise.reject(new Error('fault proxy is closed'));
    return new Promise<CommitCut[]>((resolve, reject) => {
      const arm: CutArm = { times: Number.POSITIVE_INFINITY, remaining: Number.POSITIVE_INFINITY, cuts: [], resolve, reject };
      // The window opens with the first Commit, not when armed: a client that starts slowly
      // (a loaded machine) still meets the whole window.
      arm.onFirstClaim = () =>
        setTimeout(() => {
          const index = this.arms.indexOf(arm);
          if (index !== -1) this.arms.splice(index, 1);
          resolve(arm.cuts);
        }, ms);
      this.arms.push(arm);
    });
  }

  stats(): FaultProxyStats {
    return { ...this.counters, calls: { ...this.calls } };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const outage of [this.partition, this.freeze]) {
      if (!outage) continue;
      clearTimeout(outage.timer);
      for (const waiter of outage.waiters) waiter.resolve();
    }
    this.partition = undefined;
    this.freeze = undefined;
    for (const arm of this.arms.splice(0)) arm.reject(new Error(`fault proxy closed with ${arm.times - arm.cuts.length} Commit cut(s) still armed`));
    const stopped = new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
    this.dropConnections();
    // Held callbacks belong to destroyed streams now (each checks); running them frees them.
    this.gate.open();
    await stopped;
  }
}

function listen(server: net.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, LOOPBACK, () => {
      server.off('error', onError);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** Starts a proxy on a free loopback port in front of `target` ("host:port" of the emulator). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const server = net.createServer();
  const port = await listen(server, 0);
  return new Proxy(target, server, port);
}
