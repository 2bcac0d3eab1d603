/**
 * k6/x/massconn: open and hold tens of thousands of WebSocket connections per
 * k6 process with no JavaScript VU per connection, reporting into k6's own
 * metrics, thresholds, summary and outputs.
 *
 * The option reference with every rule is docs/options.md; these
 * types carry the short form of it so that an editor completes and checks a
 * script. `TestTypesMatchTheBinding` keeps the option names here and the
 * binding's tables (what `connect()` accepts) the same.
 *
 * @example
 * import massconn from 'k6/x/massconn';
 * export default function () {
 *   const pool = massconn.connect({ urls: ['ws://127.0.0.1:8080/ws'], connections: massconn.share(10000) });
 *   pool.hold('60s');
 *   pool.close();
 * }
 */
declare module 'k6/x/massconn' {
  /**
   * A duration option: a k6 duration string such as `'10s'`, `'1m30s'`,
   * `'250ms'`, or a number of milliseconds (as k6's own duration options
   * take them).
   */
  export type Duration = string | number;

  /**
   * A duration argument of a pool method: a k6 duration string, or a number
   * of seconds (as k6's `sleep()` takes them): `pool.hold(60)` is a minute.
   */
  export type Seconds = string | number;

  /** The options of `massconn.connect()`. Unknown names are rejected. */
  export interface ConnectOptions {
    /**
     * `ws://` or `wss://` URLs, or `http://` and `https://` ones for
     * Server-Sent Events (EventSource); connection *i* uses
     * `urls[i % urls.length]`. Required. Host names resolve through k6's
     * resolver: k6's `hosts`, `dns` (`select: 'roundRobin'` spreads a
     * name's connections over its addresses), `blacklistIPs` and
     * `blockHostnames` options apply.
     */
    urls: string | string[];
    /** How many connections this call opens (1 … 2,147,483,647). Required. */
    connections: number;
    /** New connection attempts per second across the pool; 0 (default) = as fast as `maxInFlight` allows. */
    rate?: number;
    /** Handshakes in progress at once; 0 = default 1000. */
    maxInFlight?: number;
    /**
     * Source IP addresses, round-robin by connection index (e.g. `['127.0.0.2', '127.0.0.3']`).
     * Unset: k6's `--local-ips` range, taken in turn by the connections, if k6 was given one.
     */
    localAddrs?: string[];
    /** Limit for TCP connect + handshake (default `'10s'`); past it the attempt fails with reason `timeout`. */
    connectTimeout?: Duration;
    /** Extra request headers of the upgrade request. */
    headers?: Record<string, string>;
    /** Offered in `Sec-WebSocket-Protocol`. */
    subprotocols?: string[];
    /** A text message sent once right after the handshake; `{{conn}}` and `{{vu}}` are replaced. */
    onOpenSend?: string;
    /** A keep-alive every `every`: a ping frame (`ping: true`) or a text message (`text`). */
    heartbeat?: Heartbeat;
    /** Raw mode only: answer a server text message equal to (or starting with) `match` with `send`. */
    replies?: Reply[];
    /** Where the server's send time is in each application message (gives `massconn_latency`). */
    latency?: Latency;
    /** Check that an increasing integer in every application message arrives without gaps. */
    sequence?: Sequence;
    /** Reopen a connection that was open and then dropped (backoff, `maxInFlight` and `rate` apply). */
    reconnect?: boolean;
    /** Most values per trend the pool pushes per 1 s flush; 0 = default 1000. */
    sampleLimit?: number;
    /** The `{{conn}}` index of this pool's first connection; automatic by default (execution segment). */
    connOffset?: number;
    /**
     * Extra tags on every metric sample of this pool, e.g. `{name: 'chat'}` to
     * threshold `'ws_connecting{name:chat}'`. They override the `url` tag (the
     * `urls` as given, templates unrendered, space-separated).
     */
    tags?: Record<string, string>;
    /** Speak a realtime protocol on top of WebSocket; raw mode without it. */
    protocol?: ProtocolName | Protocol;
    /** Raw mode only: treat each text message as newline-delimited messages. */
    batched?: boolean;
    /** Offer permessage-deflate without context takeover. */
    compression?: boolean;
    /** Largest message accepted, in bytes; 0 = default 16 MiB. */
    maxMessageSize?: number;
    /** Most bytes one connection keeps queued while its socket accepts nothing; 0 = default 1 MiB. */
    sendQueueLimit?: number;
    /** A program every connection runs from the moment its session opens. */
    steps?: Step[];
    /** Churn: each session closes itself at a random time in `[min, max]` and reopens. */
    lifetime?: Duration | Range;
    /**
     * Rows for per-connection templates (an array or a k6 `SharedArray`):
     * connection *i* renders row *i mod length* as `{{data}}` (string rows)
     * or `{{data.FIELD}}` (object rows) in `urls`, `headers`, `onOpenSend`
     * and the adapters' string options (`token`, `auth`, `joinPayload`, ...).
     */
    data?: ArrayLike<string> | ArrayLike<Record<string, string | number | boolean>>;
    /** `http://` and `https://` URLs only: which event types count as messages. */
    sse?: SSE;
    /** `http://` and `https://` URLs only: drop a stream that receives no byte for this long (reason `idle`). */
    idleTimeout?: Duration;
  }

  /** `sse`: options of EventSource (http:// and https://) connections. */
  export interface SSE {
    /** Event types counted as messages (`'message'` for events without `event:`); all by default. */
    events?: string[];
  }

  /** `heartbeat`: `every` with exactly one of `ping` or `text`. */
  export interface Heartbeat {
    /** Interval (> 0); each connection's first beat is at a random point of the first interval. */
    every: Duration;
    /** Send a ping frame; each pong answering one gives a `ws_ping` round trip. */
    ping?: boolean;
    /** Send this text message. */
    text?: string;
  }

  /** One entry of `replies`. */
  export interface Reply {
    /** The server message to answer (or its start, with `prefix`). */
    match: string;
    /** The text sent back. */
    send: string;
    /** Match messages starting with `match`. */
    prefix?: boolean;
  }

  /** `latency`: exactly one of `path` or `field`. */
  export interface Latency {
    /** A dotted path with array indices, e.g. `'data.commit_timestamp'`, `'rows[0].ts'`. */
    path?: string;
    /** One top-level field name (a one-key path). */
    field?: string;
    /** Unit of a numeric Unix epoch timestamp (default `'ms'`); strings are read as ISO 8601. */
    unit?: 'ns' | 'us' | 'ms' | 's';
  }

  /** `sequence`. */
  export interface Sequence {
    /** Where the increasing integer is, e.g. `'id'`. Required. */
    path: string;
    /** Where the group is (numbers increase within each group), e.g. `'topic'`. */
    per?: string;
  }

  /** A uniform random duration in `[min, max]` (`lifetime`, `sleep`). */
  export interface Range {
    min: Duration;
    max: Duration;
  }

  export type ProtocolName = 'centrifugo' | 'socketio' | 'phoenix' | 'graphql-ws' | 'mqtt';

  export type Protocol = CentrifugoProtocol | SocketIOProtocol | PhoenixProtocol | GraphQLWSProtocol | MQTTProtocol;

  /** Centrifugo v5/v6, the centrifuge JSON client protocol. */
  export interface CentrifugoProtocol {
    name: 'centrifugo';
    /** Connection JWT. */
    token?: string;
    /** Any JSON value, sent as connect data. */
    data?: unknown;
    /** Channels to subscribe to after connect. */
    channels?: string | string[];
    /** Client name (default `massconn`). */
    client?: string;
  }

  /** Socket.IO v4 over the Engine.IO v4 WebSocket transport. */
  export interface SocketIOProtocol {
    name: 'socketio';
    /** Namespace (default `/`). */
    namespace?: string;
    /** Sent with the namespace connect. */
    auth?: Record<string, unknown>;
    /** Event names to count (default all). */
    events?: string | string[];
  }

  /** Phoenix Channels (Supabase Realtime, Elixir apps). */
  export interface PhoenixProtocol {
    name: 'phoenix';
    /** Topics to join (at most 1000). Required. */
    topics: string | string[];
    /** The join payload (default `{}`). */
    joinPayload?: Record<string, unknown>;
    /** Heartbeat interval (default `'30s'`). */
    heartbeat?: Duration;
    /** Serializer version: `'2.0.0'` (arrays, default) or `'1.0.0'` (objects). */
    vsn?: '1.0.0' | '2.0.0';
    /** Event names to count (default every event not starting with `phx_`). */
    events?: string | string[];
  }

  /** GraphQL over WebSocket, the `graphql-transport-ws` subprotocol. */
  export interface GraphQLWSProtocol {
    name: 'graphql-ws';
    /** The subscription document. Required. */
    query: string;
    variables?: Record<string, unknown>;
    operationName?: string;
    /** The `connection_init` payload. */
    initPayload?: Record<string, unknown>;
  }

  /** MQTT 3.1.1 or 5 over WebSocket (subprotocol `mqtt`; Mosquitto, EMQX, HiveMQ, ...). */
  export interface MQTTProtocol {
    name: 'mqtt';
    /** `'3.1.1'` (default) or `'5'`. */
    version?: '3.1.1' | '5' | 5;
    /** A template (default `massconn-{{vu}}-{{conn}}`: one client id per connection, or the broker closes the older). */
    clientId?: string;
    /** A template, e.g. `'{{data.user}}'`. */
    username?: string;
    /** A template, e.g. `'{{data.password}}'`. */
    password?: string;
    /** Whole seconds (default `'60s'`); PINGREQs are spread over the interval. */
    keepAlive?: Duration;
    /** Clean session (3.1.1) / clean start (5); default `true`. */
    cleanSession?: boolean;
    /** Topic filters to subscribe to after CONNACK. */
    topics?: string | string[];
    /** The subscriptions' maximum QoS: 0 (default) or 1. */
    qos?: 0 | 1;
    /** The last will the broker publishes when the connection is lost. */
    will?: MQTTWill;
  }

  /** `protocol.will` of the mqtt adapter. */
  export interface MQTTWill {
    topic: string;
    payload?: string;
    qos?: 0 | 1 | 2;
    retain?: boolean;
  }

  /** One step of a per-connection program. */
  export type Step = SendStep | ExpectStep | SleepStep | GotoStep | CloseStep;

  /** Sends a text message (a template: `{{conn}}`, `{{vu}}`, `{{data}}`, `{{data.FIELD}}`, `{{seq}}`, `{{now_ms}}`, `{{now_us}}`, `{{rand:N}}`). */
  export interface SendStep {
    send: string;
    /** The text is base64; the decoded bytes go out as one binary message. */
    binary?: boolean;
    /** With the mqtt adapter: publish at QoS 0 (default) or 1. */
    qos?: 0 | 1;
  }

  /** Waits for an application message; the time since the previous send is one `massconn_rtt` value. */
  export interface ExpectStep {
    /** The text to wait for, or a JSON path whose value must equal `equals`. */
    expect: string | ExpectPath;
    /** With a text `expect`: match messages starting with it. */
    prefix?: boolean;
    /** Give up after this long (counted as `expect_timeout`). */
    timeout?: Duration;
    /** After a timeout: go on with the next step (default) or close the session. */
    onTimeout?: 'continue' | 'close';
  }

  /** `expect: {path, equals}`. */
  export interface ExpectPath {
    path: string;
    equals: string | number | boolean;
  }

  /** A fixed think time, or a uniform one in `[min, max]`. */
  export interface SleepStep {
    sleep: Duration | Range;
  }

  /** Jumps to a step index (from 0); with `times` it jumps that often and then falls through. */
  export interface GotoStep {
    goto: number;
    times?: number;
  }

  /** Closes the session (`true` = 1000, or a code 1000 / 3000–4999). */
  export interface CloseStep {
    close: true | number;
  }

  /** Exact counters of a pool so far (`pool.stats()`). */
  export interface Stats {
    /** Connection attempts made, including reconnects. */
    attempted: number;
    /** Connections whose handshake completed and whose session has not ended. */
    open: number;
    /** Attempts that failed, plus protocol violations on open connections. */
    failed: number;
    /** Open sessions the server ended or lost. */
    dropped: number;
    /** Application messages received. */
    received: number;
    /** Text messages sent. */
    sent: number;
    /** Count by failure reason (`timeout`, `refused`, `reset`, `http_503`, `rejected`, ...). */
    failures: Record<string, number>;
    /** `failures.rejected` by the protocol's code, e.g. `{centrifugo_3500: 3}`. */
    rejections: Record<string, number>;
    /** `expect` steps that matched. */
    rtt: number;
    /** Sessions that closed themselves at the end of their `lifetime` and reopened. */
    churn: number;
  }

  /** The sequence check's exact result (`pool.sequence()`). */
  export interface SequenceResult {
    gaps: number;
    duplicates: number;
    reordered: number;
    /** Messages without an integer at `sequence.path`. */
    unreadable: number;
    /** Connections that saw a number. */
    connections: number;
    /** Connections that saw none. */
    silent: number;
    /** How many sequences began at each number. */
    first: Record<string, number>;
    /** How many sequences ended at each number. */
    last: Record<string, number>;
  }

  /** The connections one `connect()` opened. */
  export interface Pool {
    /**
     * Blocks the iteration for `duration` while the connections live; returns
     * early if the iteration is stopped or the pool is closed.
     */
    hold(duration: Seconds): void;
    /** Exact counters so far; cheap. */
    stats(): Stats;
    /** `null` without the `sequence` option. Walks every connection: call it once, after `hold()`. */
    sequence(): SequenceResult | null;
    /** Close frames (1000) on every connection, up to `grace` (default `'2s'`) for the answers, then release. */
    close(grace?: Seconds): void;
  }

  /**
   * Opens `connections` connections and returns once every one has been
   * attempted and is open or has failed. Call it from a VU function, not the
   * init context.
   */
  export function connect(options: ConnectOptions): Pool;

  /**
   * This k6 process's part of `total` under `--execution-segment` (k6's own
   * rounding); also makes automatic `{{conn}}` indices of the fleet contiguous.
   */
  export function share(total: number): number;

  /** This extension's release, e.g. `'0.1.0'` (CHANGELOG.md). */
  export const version: string;

  const massconn: {
    connect: typeof connect;
    share: typeof share;
    version: typeof version;
  };
  export default massconn;
}
