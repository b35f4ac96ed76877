import { packageBuild } from '../../tsup.base.js';

// p-timeout ships ESM only: bundle it so the CJS build needs no require(esm).
export default packageBuild({ noExternal: ['p-timeout'] });
