// Types for the undici files src/core/undici.ts loads directly: each is the class or object
// undici's index re-exports under the name given here.
declare module 'undici/lib/dispatcher/dispatcher.js' {
  import type { Dispatcher } from 'undici';
  const D: typeof Dispatcher;
  export default D;
}
declare module 'undici/lib/api/index.js' {
  const api: Record<string, unknown>;
  export default api;
}
declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';
  const A: typeof Agent;
  export default A;
}
declare module 'undici/lib/dispatcher/pool.js' {
  import type { Pool } from 'undici';
  const P: typeof Pool;
  export default P;
}
declare module 'undici/lib/dispatcher/proxy-agent.js' {
  import type { ProxyAgent } from 'undici';
  const P: typeof ProxyAgent;
  export default P;
}
declare module 'undici/lib/core/connect.js' {
  import type { buildConnector } from 'undici';
  const c: typeof buildConnector;
  export default c;
}
declare module 'undici/lib/core/errors.js' {
  import type { errors } from 'undici';
  const e: typeof errors;
  export default e;
}
declare module 'undici/lib/core/util.js' {
  const u: { parseURL(url: string | URL): URL; parseOrigin(url: string | URL): URL };
  export default u;
}
declare module 'undici/lib/global.js' {
  import type { Dispatcher } from 'undici';
  const g: { getGlobalDispatcher(): Dispatcher };
  export default g;
}
