/**
 * Every setting the node reads, with OwlCache's names kept exactly (misspellings
 * included: `Tonken_expire_time`), their types, defaults, sections and one line
 * of documentation. The conf parser, the flag parser, the shipped owlcache.conf
 * and the README's configuration reference all follow this table.
 */

export type Unit = 'ms' | 's' | 'min';

/**
 * The values a numeric setting accepts, in its typed terms (a count, bytes or
 * milliseconds). Every numeric setting has one, so a hostile or mistyped value
 * (`TcpMaxLine 0`, `MaxValueSize 100gb`, `Task_DataBackup 1ms`) stops the start
 * with the file and line instead of crashing or starving the node later.
 */
export interface Range {
  min: number;
  max: number;
  /** 0 is accepted as well, below min: it switches the feature off. */
  zeroOff?: boolean;
}

export type SettingType =
  | { kind: 'string' }
  | { kind: 'secret' }
  | ({ kind: 'int' } & Range)
  | { kind: 'bool' }
  | ({ kind: 'size' } & Range)
  | ({ kind: 'duration'; unit: Unit } & Range)
  | { kind: 'enum'; values: readonly string[] }
  /** `always`, `no`, or a duration in seconds (the range applies to the duration). */
  | ({ kind: 'fsync' } & Range)
  /** A list of networks in CIDR form (`10.0.0.0/8, ::1/128`), kept as text; parseNetworks reads it. */
  | { kind: 'networks' };

/** The setting kinds that carry a Range. */
export type NumericSettingType = Extract<SettingType, Range>;

export function isNumericType(type: SettingType): type is NumericSettingType {
  return 'min' in type;
}

export interface SettingSpec {
  section: string;
  type: SettingType;
  default: string;
  doc: string;
  /** An OwlCache setting this implementation accepts but does not act on. */
  unsupported?: true;
}

export const KB = 1024;
export const MB = 1024 ** 2;
export const GB = 1024 ** 3;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/**
 * Longest period given to a Node timer (setInterval, socket timeouts): past
 * 2^31 - 1 ms Node fires the timer after 1 ms instead, so a "never" written
 * as 30d would become a busy loop.
 */
export const TIMER_MAX_MS = 24 * DAY;

const str = { kind: 'string' } as const;
const secret = { kind: 'secret' } as const;
const bool = { kind: 'bool' } as const;
const port = { kind: 'int', min: 0, max: 65535 } as const;
const count = (lo: number, hi: number) => ({ kind: 'int', min: lo, max: hi }) as const;
/** Bytes from lo to hi; with `off`, 0 too. */
const size = (lo: number, hi: number, off?: 'off') => ({ kind: 'size', min: lo, max: hi, zeroOff: off === 'off' }) as const;
/** A duration in `unit` when written bare, from lo to hi milliseconds; with `off`, 0 too. */
const duration = (unit: Unit) => (lo: number, hi: number, off?: 'off') => ({ kind: 'duration', unit, min: lo, max: hi, zeroOff: off === 'off' }) as const;
const ms = duration('ms');
const sec = duration('s');
const min = duration('min');

function unsupported(section: string, def: string, what: string, why = 'accepted for compatibility, not supported here'): SettingSpec {
  return { section, type: str, default: def, doc: `OwlCache's ${what}; ${why}.`, unsupported: true };
}

export const SETTINGS = {
  // [Owlcache]
  Host: { section: 'Owlcache', type: str, default: '0.0.0.0', doc: 'Address the HTTP, TCP and RESP ports listen on.' },
  ResponseHost: {
    section: 'Owlcache',
    type: str,
    default: '127.0.0.1',
    doc: 'Host shown in ResponseHost of every answer; set it to the address clients reach this node at.',
  },
  Logfile: { section: 'Owlcache', type: str, default: './log_file/', doc: 'Folder of the rotating log file (owlcache.log); empty = log to stderr only.' },
  DBfile: {
    section: 'Owlcache',
    type: str,
    default: './db_file/',
    doc: 'Data directory: snapshot, append log, auth data, server lists. With or without a trailing /; never / or a system folder (/etc, /usr, /var, ...).',
  },
  BackupDir: {
    section: 'Owlcache',
    type: str,
    default: '',
    doc: 'Folder of the backup files written and read by the coldbackup and coldrestore jobs; empty = backups/ inside DBfile. A job names a file in it; a path that leaves it is refused.',
  },
  NodeName: { section: 'Owlcache', type: str, default: '', doc: "This node's name in the cluster; empty = ResponseHost:Httpport." },
  MaxMemory: {
    section: 'Owlcache',
    type: size(MB, 1024 * GB, 'off'),
    default: '0',
    doc: 'Byte budget of the cache (e.g. 256mb); least recently used entries are evicted past it; 0 = no bound.',
  },
  MaxKeyLength: { section: 'Owlcache', type: size(1, 64 * KB), default: '1kb', doc: 'Longest key accepted, in bytes.' },
  MaxValueSize: {
    section: 'Owlcache',
    type: size(1, 512 * MB),
    default: '16mb',
    doc: 'Largest value accepted, in bytes; larger HTTP bodies get 413 without being read.',
  },
  MaxConnections: {
    section: 'Owlcache',
    type: count(0, 1_000_000),
    default: '10000',
    doc: 'Most open connections on each of the HTTP, TCP and RESP ports; more are refused at once; 0 = no cap.',
  },
  MaxConnectionsPerClient: {
    section: 'Owlcache',
    type: count(0, 1_000_000),
    default: '1000',
    doc: 'Most open connections from one client address on each port; more are refused at once; 0 = no cap.',
  },

  // [TCP]
  Tcpport: { section: 'TCP', type: port, default: '7720', doc: 'Port of the OwlCache TCP text protocol.' },
  CloseTcp: { section: 'TCP', type: bool, default: '1', doc: "1 = the TCP service is on, 0 = off (the original's name; TCP has no authentication)." },
  TcpMaxLine: { section: 'TCP', type: size(64, 512 * MB), default: '1mb', doc: 'Longest TCP command line; a longer one closes the connection.' },
  TcpIdleTimeout: {
    section: 'TCP',
    type: sec(SECOND, TIMER_MAX_MS, 'off'),
    default: '300',
    doc: 'Seconds a TCP connection may stay idle before it is closed; 0 = never.',
  },
  TcpProtectedMode: {
    section: 'TCP',
    type: bool,
    default: '1',
    doc: '1 = TCP writes (set, expire, delete) are accepted only from TcpTrustedNetworks; 0 = from any address (TCP has no authentication).',
  },
  TcpTrustedNetworks: {
    section: 'TCP',
    type: { kind: 'networks' },
    default: '127.0.0.1/32,::1/128',
    doc: 'Networks (CIDR, comma-separated) whose TCP clients may write while TcpProtectedMode is 1; this list replaces the default, so keep 127.0.0.1/32 in it to write from this machine.',
  },

  // [RESP]
  RespPort: { section: 'RESP', type: port, default: '0', doc: 'Port of the Redis protocol (RESP2); 0 = off.' },
  RespIdleTimeout: {
    section: 'RESP',
    type: sec(SECOND, TIMER_MAX_MS, 'off'),
    default: '300',
    doc: "Seconds a RESP connection may stay idle before it is closed; 0 = never (Redis's own default).",
  },

  // [HTTP]
  Httpport: { section: 'HTTP', type: port, default: '7721', doc: 'Port of the HTTP API.' },
  Pass: {
    section: 'HTTP',
    type: secret,
    default: '',
    doc: 'Password for cmd=pass and AUTH: at least 10 characters, not only digits, not one repeated character, not a common password; changing it revokes every token. Empty = generate one at first start, keep it in the data directory and print it once.',
  },
  Tonken_expire_time: {
    section: 'HTTP',
    type: sec(SECOND, 3650 * DAY, 'off'),
    default: '0',
    doc: 'Lifetime of tokens from cmd=pass, in seconds; 0 = never expire.',
  },
  Tonken_jwt_secret: {
    section: 'HTTP',
    type: secret,
    default: '',
    doc: "Secret that signs tokens (HS256); empty = generate one and keep it in the data directory. Nodes that share it accept each other's tokens.",
  },
  PassFailDelay: {
    section: 'HTTP',
    type: ms(0, 10 * SECOND),
    default: '200',
    doc: 'Delay after a wrong password from one address, doubled on each further failure (capped at 10 s), halved every 10 s of quiet, forgotten after 60 s; attempts from one address are answered one at a time. 0 = no delay.',
  },
  PassChecksPerSecond: {
    section: 'HTTP',
    type: count(0, 100000),
    default: '100',
    doc: 'Password checks per second for all addresses together (cmd=pass, AUTH); more wait their turn, or are refused while 256 already wait. 0 = no bound.',
  },
  Open_Https: { section: 'HTTP', type: bool, default: '0', doc: '1 = serve HTTPS instead of HTTP on Httpport.' },
  Https_CertFile: { section: 'HTTP', type: str, default: '/www/server.crt', doc: 'Certificate file (PEM) for Open_Https 1.' },
  Https_KeyFile: { section: 'HTTP', type: str, default: '/www/server.key', doc: 'Private key file (PEM) for Open_Https 1.' },
  HttpsClient_InsecureSkipVerify: { section: 'HTTP', type: bool, default: '0', doc: "1 = do not verify peers' certificates on node-to-node HTTPS." },
  Cors: { section: 'HTTP', type: bool, default: '0', doc: '1 = answer cross-origin requests (CORS headers).' },
  Access_Control_Allow_Origin: { section: 'HTTP', type: str, default: '*', doc: 'Value of Access-Control-Allow-Origin when Cors is 1.' },
  MetricsAuth: {
    section: 'HTTP',
    type: bool,
    default: '0',
    doc: '1 = GET /metrics needs a token from cmd=pass (?token= or Authorization: Bearer); 0 = open like reads (no key or value is ever in a metric).',
  },
  ShutdownDrain: {
    section: 'HTTP',
    type: sec(SECOND, 10 * MINUTE, 'off'),
    default: '0',
    doc: 'Seconds a stopping node (SIGTERM) keeps serving with GET /readyz answering 503, so load balancers stop sending before the ports close; 0 = close at once.',
  },

  // [GroupData]
  GroupWorkMode: {
    section: 'GroupData',
    type: { kind: 'enum', values: ['owlcache', 'gossip'] },
    default: 'owlcache',
    doc: 'Cluster mode: owlcache (explicit server list, no replication) or gossip (SWIM membership, replicated data).',
  },
  HttpClientRequestTimeout: { section: 'GroupData', type: ms(10, 10 * MINUTE), default: '2700', doc: 'Milliseconds to wait for another node in /group_data/.' },
  HttpClientRequestLocalCacheLifeTime: {
    section: 'GroupData',
    type: ms(0, DAY),
    default: '5000',
    doc: 'Milliseconds a /group_data/ answer is cached here; 0 = no cache.',
  },
  HttpClient_Request_Timeout_Sleeptime: unsupported('GroupData', '2', 'HTTP client back-off'),
  HttpClient_Request_Max_Error_Number: unsupported('GroupData', '2', 'HTTP client back-off'),

  // [GroupDataSync]
  GroupDataSync: { section: 'GroupDataSync', type: bool, default: '0', doc: "1 = gossip mode (the later OwlCache's switch; same as GroupWorkMode gossip)." },
  Gossipport: {
    section: 'GroupDataSync',
    type: port,
    default: '0',
    doc: 'UDP port of SWIM membership; 0 = pick a free port (printed at start as "local member HOST:PORT").',
  },
  GossipAdvertiseAddr: {
    section: 'GroupDataSync',
    type: str,
    default: '',
    doc: "host[:port] other nodes should use to reach this node's gossip port (NAT, containers); empty = ResponseHost.",
  },
  GossipDataSyncAuthKey: {
    section: 'GroupDataSync',
    type: secret,
    default: '',
    doc: 'Shared key that authenticates every node-to-node message; the same on every node of a cluster. Required in gossip mode.',
  },
  GossipEncrypt: {
    section: 'GroupDataSync',
    type: bool,
    default: '0',
    doc: '1 = also encrypt node-to-node datagrams (AES-256-GCM, key derived from GossipDataSyncAuthKey).',
  },
  GossipHttpClientRequestTimeout: {
    section: 'GroupDataSync',
    type: ms(10, 10 * MINUTE),
    default: '5000',
    doc: 'Milliseconds to wait for a peer on internal HTTP calls (value fetches, push-pull).',
  },
  GossipProbeInterval: { section: 'GroupDataSync', type: ms(50, MINUTE), default: '1000', doc: 'SWIM probe period.' },
  GossipPingTimeout: { section: 'GroupDataSync', type: ms(10, MINUTE), default: '500', doc: 'SWIM direct ping timeout.' },
  GossipSuspicionMult: {
    section: 'GroupDataSync',
    type: count(1, 100),
    default: '4',
    doc: 'Suspicion timeout = GossipSuspicionMult x log10(N) x GossipProbeInterval.',
  },
  ReapFaultyAfter: { section: 'GroupDataSync', type: sec(SECOND, 365 * DAY), default: '86400', doc: 'Seconds after which a faulty member is forgotten.' },
  DataGossipPort: { section: 'GroupDataSync', type: port, default: '0', doc: 'UDP port of data deltas; 0 = pick a free port.' },
  GossipFanout: { section: 'GroupDataSync', type: count(1, 64), default: '3', doc: 'Peers each delta is pushed to per round.' },
  RetransmitMult: {
    section: 'GroupDataSync',
    type: count(1, 64),
    default: '4',
    doc: 'Each delta is sent at most RetransmitMult x ceil(log10(N+1)) times by each node.',
  },
  GossipMaxDatagram: {
    section: 'GroupDataSync',
    type: size(576, 65000),
    default: '1400',
    doc: 'Largest UDP datagram sent; bigger values travel as key + versions and are fetched over HTTP.',
  },
  GossipMacWindow: {
    section: 'GroupDataSync',
    type: sec(SECOND, HOUR),
    default: '30',
    doc: 'Seconds a signed node-to-node message stays valid (clock skew and replay window).',
  },
  PushPullInterval: { section: 'GroupDataSync', type: sec(SECOND, DAY), default: '10', doc: 'Seconds between anti-entropy rounds with a random live peer.' },
  GossipMemberSyncInterval: {
    section: 'GroupDataSync',
    type: sec(SECOND, DAY),
    default: '30',
    doc: 'Seconds between full member-list exchanges with one random live member (and a retry of one faulty member): heals what SWIM gossip missed.',
  },
  MaxClockSkew: {
    section: 'GroupDataSync',
    type: ms(0, HOUR, 'off'),
    default: '500',
    doc: "Milliseconds a member's clock may be off this node's (estimated from SWIM probes) before cluster_status flags it and the log says so: last-writer-wins needs clocks within bounds. 0 = never flag.",
  },
  TombstoneTTL: {
    section: 'GroupDataSync',
    type: sec(SECOND, 365 * DAY),
    default: '86400',
    doc: 'Seconds deletes and expiries are remembered so they reach every node.',
  },

  // [Persistence]
  AppendLog: { section: 'Persistence', type: bool, default: '1', doc: '1 = append every change to a log before acknowledging it.' },
  AppendFsync: {
    section: 'Persistence',
    type: { kind: 'fsync', min: 10, max: HOUR },
    default: '1',
    doc: 'When the append log is flushed to disk: always, no (the OS decides), or every N seconds.',
  },

  // [Task]
  Task_DataBackup: { section: 'Task', type: min(SECOND, TIMER_MAX_MS, 'off'), default: '1', doc: 'Minutes between snapshots of the store.' },
  Task_DataAuthBackup: unsupported(
    'Task',
    '1',
    'periodic save of auth data',
    'not carried over: auth.json is written once, when the node creates it, and never changes afterwards',
  ),
  Task_ClearExpireData: { section: 'Task', type: min(100, TIMER_MAX_MS, 'off'), default: '1', doc: 'Minutes between sweeps of expired entries.' },
  Task_ServerListBackup: {
    section: 'Task',
    type: min(SECOND, TIMER_MAX_MS, 'off'),
    default: '1',
    doc: 'Minutes between saves of the server list (it is also saved at once on change).',
  },
  Task_ServerGossipListBackup: unsupported(
    'Task',
    '1',
    'periodic save of the gossip member list',
    'not carried over: the member list is saved within a second of every membership change, the gossip server list at once (retried every Task_ServerListBackup)',
  ),
  Task_MemoryInfoToLog: {
    section: 'Task',
    type: min(SECOND, TIMER_MAX_MS, 'off'),
    default: '1',
    doc: 'Minutes between memory reports (RSS, heap, store size) in the log; 0 = off.',
  },
  Task_OutputSuccessLog: unsupported('Task', '1', 'task success logging'),

  // OwlCache features this implementation does not carry over.
  Get_data_from_memcache: unsupported('Memcache_Client', '0', 'memcache read-through'),
  Memcache_list: unsupported('Memcache_Client', '', 'memcache read-through'),
  Get_memcache_data_set_expire_time: unsupported('Memcache_Client', '0', 'memcache read-through'),
  MemcacheClient_Request_Timeout_Sleeptime: unsupported('Memcache_Client', '2', 'memcache read-through'),
  MemcacheClient_Request_Max_Error_Number: unsupported('Memcache_Client', '2', 'memcache read-through'),
  Get_data_from_redis: unsupported('Redis_Client', '0', 'redis read-through'),
  Redis_Addr: unsupported('Redis_Client', '', 'redis read-through'),
  Redis_Password: unsupported('Redis_Client', '', 'redis read-through'),
  Redis_DB: unsupported('Redis_Client', '0', 'redis read-through'),
  Get_redis_data_set_expire_time: unsupported('Redis_Client', '0', 'redis read-through'),
  RedisClient_Request_Timeout_Sleeptime: unsupported('Redis_Client', '2', 'redis read-through'),
  RedisClient_Request_Max_Error_Number: unsupported('Redis_Client', '2', 'redis read-through'),
  Open_Urlcache: unsupported('Url_Cache', '0', 'URL cache'),
  Urlcache_Filename: unsupported('Url_Cache', 'sites.xml', 'URL cache'),
  Urlcache_Request_Easy: unsupported('Url_Cache', '0', 'URL cache'),
  Open_Websocket_Server: unsupported('Websocket', '0', 'websocket server'),
  GroupData_Mode: unsupported('Websocket', 'Http', 'websocket group transport'),
  Websocket_Client_WriteWait: unsupported('Websocket', '10', 'websocket client'),
  Websocket_Client_MaxMessageSize: unsupported('Websocket', '7000000', 'websocket client'),
  Websocket_Client_MinRecTime: unsupported('Websocket', '2', 'websocket client'),
  Websocket_Client_MaxRecTime: unsupported('Websocket', '60', 'websocket client'),
  Websocket_Client_MessageBufferSize: unsupported('Websocket', '1024', 'websocket client'),
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

type ValueOf<T extends SettingType> = T extends { kind: 'string' | 'secret' | 'networks' }
  ? string
  : T extends { kind: 'bool' }
    ? boolean
    : T extends { kind: 'enum'; values: readonly (infer V)[] }
      ? V
      : T extends { kind: 'fsync' }
        ? 'always' | 'no' | number
        : number; // int; size in bytes; duration in milliseconds

/** The node's settings, typed. Sizes are bytes, durations milliseconds, whatever unit the file uses. */
export type Config = { -readonly [K in SettingName]: ValueOf<(typeof SETTINGS)[K]['type']> } & {
  /** The conf file read, if any. */
  readonly configFile: string | null;
};

export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(SETTINGS, name);
}
