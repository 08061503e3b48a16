/**
 * Origin side of bench:proxy, run as its own process so its CPU never counts as the
 * proxy's: the DMS simulator (for the relay's registration) and the tenant provisioning
 * server with config files of 2–20 KB. Prints one JSON line with the URLs, then serves.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa } from '../sim/pki.js';
import { startDmsSimulator } from '../sim/dms/index.js';
import { configBody, startProvisioningSimulator } from '../sim/provisioning/index.js';

const dir = process.argv[2];
const files = Number(process.argv[3] ?? '64');
if (!dir) throw new Error('usage: proxy-origin DIR [FILES]');

const ca = createCa('bench:proxy CA');
writeFileSync(join(dir, 'ca.pem'), ca.certPem);
writeFileSync(join(dir, 'ca.key'), ca.keyPem);
const prov = await startProvisioningSimulator({ ca, maxLog: 1 });
for (let i = 0; i < files; i++) prov.setFile(`cfg/${i}.cfg`, configBody(`cfg/${i}.cfg`, 2048 + Math.round((i / Math.max(1, files - 1)) * 18 * 1024)));
const dms = await startDmsSimulator({ ca, provisioningUrl: prov.url, heartbeatIntervalSeconds: 120 });
process.stdout.write(JSON.stringify({ provUrl: prov.url, dmsUrl: dms.url }) + '\n');
process.on('SIGTERM', () => {
  void Promise.all([prov.close(), dms.close()]).finally(() => process.exit(0));
});
