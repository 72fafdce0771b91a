#!/bin/sh
# fetch-assets.sh re-downloads the GraphiQL playground assets from the npm
# registry (via `npm pack`) into ./assets. Versions are pinned to the ones
# gqlgen's playground uses, so the files are byte-identical to the CDN copies
# and their SRI hashes (see playground.go) stay valid.
#
# Usage: ./fetch-assets.sh   (run from any directory; needs npm and tar)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
assets="$here/assets"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

GRAPHIQL=4.1.2
REACT=18.2.0
EXPLORER=4.0.6

cd "$tmp"
npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" \
	"@graphiql/plugin-explorer@$EXPLORER" >/dev/null

unpack() { # unpack <tarball> <dir>
	mkdir -p "$2"
	tar -xzf "$1" -C "$2"
}
unpack "graphiql-$GRAPHIQL.tgz" graphiql
unpack "react-$REACT.tgz" react
unpack "react-dom-$REACT.tgz" react-dom
unpack "graphiql-plugin-explorer-$EXPLORER.tgz" explorer

# copy <src> <dst>: install one file under $assets.
copy() {
	mkdir -p "$(dirname "$assets/$2")"
	cp "$1" "$assets/$2"
}

copy graphiql/package/graphiql.min.js "graphiql-$GRAPHIQL/graphiql.min.js"
copy graphiql/package/graphiql.min.css "graphiql-$GRAPHIQL/graphiql.min.css"
copy graphiql/package/LICENSE "graphiql-$GRAPHIQL/LICENSE"
copy react/package/umd/react.production.min.js "react-$REACT/react.production.min.js"
copy react/package/LICENSE "react-$REACT/LICENSE"
copy react-dom/package/umd/react-dom.production.min.js "react-dom-$REACT/react-dom.production.min.js"
copy react-dom/package/LICENSE "react-dom-$REACT/LICENSE"
copy explorer/package/dist/index.umd.js "graphiql-plugin-explorer-$EXPLORER/index.umd.js"
copy explorer/package/dist/style.css "graphiql-plugin-explorer-$EXPLORER/style.css"

echo "assets written to $assets"
if command -v openssl >/dev/null 2>&1; then
	cd "$assets"
	for f in */*.js */*.css; do
		printf '%s sha256-%s\n' "$f" "$(openssl dgst -sha256 -binary "$f" | openssl base64 -A)"
	done
fi
