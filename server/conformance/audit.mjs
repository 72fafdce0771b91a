// audit.mjs runs the GraphQL-over-HTTP server audits of the graphql-http package (pinned in
// package.json) against a running server and prints one line per audit that did not pass and
// a summary line. It exits 1 when any audit warns, notes or fails: the server passes them all.
//
//   node server/conformance/audit.mjs http://127.0.0.1:8000/graphql
//
// The audits cover both response media types (application/json and
// application/graphql-response+json), POST and GET. AUDIT_NODE_MODULES names the
// node_modules directory that holds graphql-http (default: the one beside this file).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = process.env.AUDIT_NODE_MODULES || path.join(here, 'node_modules');
const require = createRequire(path.join(modules, 'audit.cjs'));
const { serverAudits } = require('graphql-http');
const version = require('graphql-http/package.json').version;

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint URL>');
  process.exit(2);
}

const results = await Promise.all(serverAudits({ url, fetchFn: fetch }).map((audit) => audit.fn()));
const count = (status) => results.filter((r) => r.status === status).length;
for (const r of results) {
  if (r.status === 'ok') continue;
  let body = '';
  try {
    body = await r.response.text();
  } catch {
    // the audit read it already
  }
  console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason} (status ${r.response?.status}) ${body.slice(0, 300)}`);
}
const ok = count('ok');
console.log(`graphql-http ${version} audits: ${ok} passed, ${count('warn')} warnings, ${count('notice')} notices, ${count('error')} failed (of ${results.length})`);
process.exit(ok === results.length ? 0 : 1);
