package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"
)

// Watching for changes other writers made: caches in the server (the authentication cache) must
// drop what a write elsewhere changed. PostgreSQL pushes: a trigger notifies a channel and Listen
// receives it. SQLite has no notifications, so a Watcher looks cheaply on a connection of its
// own: PRAGMA data_version moves whenever another connection (of this process or another) has
// committed, and only then does it read what changed.

// Watcher tells whether a SQLite database changed since it last looked.
type Watcher struct {
	mu      sync.Mutex
	db      *sql.DB
	conn    *sql.Conn
	version int64
}

// NewWatcher opens a Watcher on a read-only connection of its own, outside the pools (SQLite
// on a file only).
func (db *DB) NewWatcher(ctx context.Context) (*Watcher, error) {
	if db.Dialect != dialect.SQLite || db.readDSN == "" {
		return nil, errors.New("database: a Watcher is for SQLite files; PostgreSQL notifies (Listen)")
	}
	wdb, err := sql.Open("sqlite", db.readDSN)
	if err != nil {
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	conn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, err
	}
	return &Watcher{db: wdb, conn: conn, version: -1}, nil
}

// CatchUp calls read with the watcher's connection if any other connection has committed since
// the last CatchUp whose read succeeded (the first call always reads). Callers take turns, so
// none returns before what an earlier one found has been read; a read that fails is tried again
// by the next call.
func (w *Watcher) CatchUp(ctx context.Context, read func(ctx context.Context, conn *sql.Conn) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var v int64
	if err := w.conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return err
	}
	if v == w.version {
		return nil
	}
	if err := read(ctx, w.conn); err != nil {
		return err
	}
	w.version = v
	return nil
}

// Close closes the watcher's connection.
func (w *Watcher) Close() error {
	w.conn.Close()
	return w.db.Close()
}

// NotifyChannel is the channel on which the trigger of the table in the database's current
// schema notifies (channels are database-wide, so each schema has its own).
func (db *DB) NotifyChannel(ctx context.Context, prefix string) (string, error) {
	var schema string
	if err := db.write.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return "", err
	}
	return prefix + schema, nil
}

// Listen keeps a PostgreSQL LISTEN on channel, on a connection of its own (application_name:
// the channel, unless the URL names one) that reconnects by
// itself (lib/pq's Listener), until ctx ends. It calls notify with each payload, and state with
// false when the connection goes down (notifications sent meanwhile are lost: the caller must
// not rely on not having heard of a change) and true when it is up again. It pings the
// connection every interval, so that a dead link is noticed even when nothing is sent.
func Listen(ctx context.Context, databaseURL, channel string, interval time.Duration,
	notify func(payload string), state func(up bool)) error {
	// Named after its channel in pg_stat_activity, so an operator (or a test) can tell it.
	if u, err := url.Parse(databaseURL); err == nil && u.Query().Get("application_name") == "" {
		q := u.Query()
		q.Set("application_name", channel)
		u.RawQuery = q.Encode()
		databaseURL = u.String()
	}
	events := make(chan bool, 64)
	l := pq.NewListener(databaseURL, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		up := ev == pq.ListenerEventConnected || ev == pq.ListenerEventReconnected
		select {
		case events <- up:
		default: // the loop has stopped
		}
	})
	if err := l.Listen(channel); err != nil {
		l.Close()
		return fmt.Errorf("listening on %s: %w", channel, err)
	}
	go func() {
		defer l.Close()
		ping := time.NewTicker(interval)
		defer ping.Stop()
		up := false
		set := func(v bool) {
			if v != up {
				up = v
				state(v)
			}
		}
		// A ping runs beside the loop: on a link that died silently (no reset, so no error for
		// minutes) it would block, and the loop with it, while the caller trusted a connection
		// that hears nothing. A ping unanswered by the next tick counts as down; its late answer
		// as up again.
		pong := make(chan error, 1)
		pinging, lateDown := false, false
		for {
			select {
			case <-ctx.Done():
				set(false)
				return
			case v := <-events:
				// A (re)connection may follow lost notifications: down, then up, tells the caller
				// to start afresh.
				set(false)
				set(v)
			case n := <-l.Notify:
				if n == nil {
					// lib/pq's sign that the connection was re-established: some may be lost.
					set(false)
					set(true)
					continue
				}
				notify(n.Extra)
			case <-ping.C:
				if pinging {
					lateDown = true
					set(false)
					continue
				}
				pinging = true
				go func() { pong <- l.Ping() }()
			case err := <-pong:
				pinging = false
				switch {
				case err != nil && !strings.Contains(err.Error(), "closed"):
					set(false)
				case err == nil && lateDown:
					set(true)
				}
				lateDown = false
			}
		}
	}()
	return nil
}
