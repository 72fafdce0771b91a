package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	_ "github.com/lib/pq" // the floor talks to PostgreSQL as the server does
)

// The floor: what a bare Go HTTP handler reaches on this machine when it sends an endpoint's
// statements. With -pgbench, for each endpoint that sends statements when warm, this command
// starts itself again as a separate process (-floor-serve) that answers every request by running
// those statements (database/sql and lib/pq, as the server; prepared once per connection, a pool
// as large as the server's) and writing their rows as JSON arrays of the driver's bytes: no
// authentication, no GraphQL, no privacy rules, no parsing of times, no logging or metrics. It is driven like the server, by as many clients for as
// long, its process's CPU and its backends' measured alike. Its rate is the most any server in
// Go on lib/pq could reach here with the same statements: the distance from pgbench to it is
// the HTTP, driver and JSON cost no server escapes; from it to the server, what the server adds.

// floorAppName is the application_name of the floor's PostgreSQL connections.
const floorAppName = "loadtest-floor"

// floorSpec is what a floor process serves; written as JSON to a file named by -floor-serve.
type floorSpec struct {
	DatabaseURL string      `json:"database_url"`
	Listen      string      `json:"listen"`
	Pool        int         `json:"pool"`
	Statements  []floorStmt `json:"statements"`
}

// floorStmt is one statement and its arguments as PostgreSQL reads them (nil for NULL).
type floorStmt struct {
	Query string    `json:"query"`
	Args  []*string `json:"args"`
}

// serveFloor is the floor process: it serves spec's statements until killed.
func serveFloor(specFile string) error {
	b, err := os.ReadFile(specFile)
	if err != nil {
		return err
	}
	var spec floorSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	db, err := sql.Open("postgres", spec.DatabaseURL)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(spec.Pool)
	db.SetMaxIdleConns(spec.Pool)
	type prepared struct {
		stmt *sql.Stmt
		args []any
	}
	var stmts []prepared
	for _, s := range spec.Statements {
		st, err := db.Prepare(s.Query)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Query, err)
		}
		args := make([]any, len(s.Args))
		for i, a := range s.Args {
			if a != nil {
				args[i] = *a
			}
		}
		stmts = append(stmts, prepared{st, args})
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := append(make([]byte, 0, 16<<10), `{"data":[`...)
		for i, p := range stmts {
			if i > 0 {
				out = append(out, ',')
			}
			rows, err := p.stmt.QueryContext(r.Context(), p.args...)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if out, err = appendRows(out, rows); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		out = append(out, "]}"...)
		w.Header().Set("Content-Type", "application/json")
		w.Write(out) //nolint:errcheck // the client hung up
	})
	ln, err := net.Listen("tcp", spec.Listen)
	if err != nil {
		return err
	}
	return http.Serve(ln, handler)
}

// appendRows appends rows to out as a JSON array of arrays of strings (null for NULL), straight
// from the driver's bytes: the least a server can do with them (no parsing of times or numbers).
func appendRows(out []byte, rows *sql.Rows) ([]byte, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return out, err
	}
	vals, ptrs := make([]sql.RawBytes, len(cols)), make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	out = append(out, '[')
	for n := 0; rows.Next(); n++ {
		if err := rows.Scan(ptrs...); err != nil {
			return out, err
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, '[')
		for i, v := range vals {
			if i > 0 {
				out = append(out, ',')
			}
			if v == nil {
				out = append(out, "null"...)
				continue
			}
			out = appendJSONString(out, v)
		}
		out = append(out, ']')
	}
	return append(out, ']'), rows.Err()
}

// appendJSONString appends b as a JSON string.
func appendJSONString(out, b []byte) []byte {
	out = append(out, '"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20:
			out = append(out, fmt.Sprintf(`\u%04x`, c)...)
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}

// floorResult is what driving one endpoint's floor measured.
type floorResult struct {
	rate       float64
	took       latencies
	bad        int
	cpu        time.Duration // the floor process's
	backendCPU time.Duration
	err        error
}

func (r floorResult) perRequest(cpu time.Duration) string { return perRequest(cpu, len(r.took)) }

// runFloor starts a floor process for stmts, drives it like the server was driven, and stops it.
func runFloor(f *fixture, o options, stmts []statement, dir string) floorResult {
	self, err := os.Executable()
	if err != nil {
		return floorResult{err: err}
	}
	u, err := url.Parse(f.dbURL)
	if err != nil {
		return floorResult{err: err}
	}
	q := u.Query()
	q.Set("application_name", floorAppName)
	u.RawQuery = q.Encode()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return floorResult{err: err}
	}
	addr := ln.Addr().String()
	ln.Close()
	spec := floorSpec{DatabaseURL: u.String(), Listen: addr, Pool: o.pool}
	for _, s := range stmts {
		fs := floorStmt{Query: s.query}
		for _, a := range s.args {
			if v, null := argText(a); null {
				fs.Args = append(fs.Args, nil)
			} else {
				fs.Args = append(fs.Args, &v)
			}
		}
		spec.Statements = append(spec.Statements, fs)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return floorResult{err: err}
	}
	file := filepath.Join(dir, "floor-spec.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return floorResult{err: err}
	}
	cmd := exec.Command(self, "-floor-serve", file)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	floorProc, err := startChild(cmd, "http://"+addr, "/")
	if err != nil {
		return floorResult{err: err}
	}
	defer floorProc.stop()
	backends, err := newBackendCPU(o.database, floorAppName)
	if err != nil {
		return floorResult{err: err}
	}
	defer backends.close()
	floor := *f
	floor.base = floorProc.base
	r := floorResult{cpu: -1}
	var mu sync.Mutex
	cpu0 := floorProc.cpu()
	backends.start()
	elapsed := drive(&floor, o.concurrency, o.duration, func(int, int) (request, func(answer)) {
		return request{method: "GET", path: "/"}, func(a answer) {
			mu.Lock()
			defer mu.Unlock()
			r.took = append(r.took, a.took)
			if a.status != http.StatusOK || a.err != nil {
				r.bad++
			}
		}
	})
	r.backendCPU = backends.stop()
	if cpu1 := floorProc.cpu(); cpu0 >= 0 && cpu1 >= 0 {
		r.cpu = cpu1 - cpu0
	}
	r.rate = float64(len(r.took)) / elapsed.Seconds()
	return r
}
