export { ProvisioningSimulator, startProvisioningSimulator, type ProvisioningSimOptions, type ProvRequest, type PathBehaviour } from './server.js';
export { DEFAULT_ACCOUNT, configBody, firmwareBody, masterConfig } from './files.js';
