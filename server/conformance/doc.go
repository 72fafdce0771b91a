// Package conformance holds the GraphQL-over-HTTP conformance check: audit.mjs runs the server
// audits of the graphql-http npm package (pinned in package.json and package-lock.json) against
// a server, and conformance_test.go starts the real server and runs it. CI installs the
// packages with `npm ci` here (node_modules is ignored by git).
package conformance
