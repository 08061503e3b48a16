import type { Dispatcher } from 'undici';
import type * as Undici from 'undici';
// undici's index also loads fetch, WebSocket, EventSource, the mocks, the cache stores and
// HTTP/2 support's neighbours: ~110 modules, ~9 MB of resident memory in a process that uses
// only its dispatchers and `request`. The relay takes the modules it uses from undici's own
// files instead (the package has no "exports" map, so these paths are its public layout).
import DispatcherClass from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';
import AgentClass from 'undici/lib/dispatcher/agent.js';
import PoolClass from 'undici/lib/dispatcher/pool.js';
import ProxyAgentClass from 'undici/lib/dispatcher/proxy-agent.js';
import buildConnectorFn from 'undici/lib/core/connect.js';
import errorsModule from 'undici/lib/core/errors.js';
import util from 'undici/lib/core/util.js';
import globalDispatcher from 'undici/lib/global.js';

// What undici's index does first: every dispatcher gets request/stream/pipeline/connect/upgrade.
Object.assign(DispatcherClass.prototype, api);

export const Agent = AgentClass;
export type Agent = Undici.Agent;
export const Pool = PoolClass;
export type Pool = Undici.Pool;
export const ProxyAgent = ProxyAgentClass;
export type ProxyAgent = Undici.ProxyAgent;
export const buildConnector = buildConnectorFn;
export const errors = errorsModule;

type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & Partial<Pick<Dispatcher.RequestOptions, 'method' | 'path'>> & { dispatcher?: Dispatcher };

/**
 * undici's top-level `request(url, options)`, the same steps as its index (URL and `path`
 * handling, the global dispatcher when none is given, the method defaulting to PUT with a body).
 */
export const request: typeof Undici.request = ((url: string | URL, opts?: RequestOptions) => {
  if (opts != null && typeof opts !== 'object') throw new errorsModule.InvalidArgumentError('invalid opts');
  const o: RequestOptions = opts ?? {};
  let target: URL;
  if (o.path != null) {
    if (typeof o.path !== 'string') throw new errorsModule.InvalidArgumentError('invalid opts.path');
    const path = o.path.startsWith('/') ? o.path : `/${o.path}`;
    target = new URL(util.parseOrigin(url).origin + path);
  } else {
    target = util.parseURL(url);
  }
  const { dispatcher = globalDispatcher.getGlobalDispatcher() } = o;
  return dispatcher.request({
    ...o,
    origin: target.origin,
    path: target.search ? `${target.pathname}${target.search}` : target.pathname,
    method: o.method ?? (o.body ? 'PUT' : 'GET'),
  });
}) as typeof Undici.request;
