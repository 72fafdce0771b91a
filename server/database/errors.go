package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/lib/pq"
	"modernc.org/sqlite"
)

// SQLite's primary result codes for a lock held by someone else.
const (
	sqliteBusy   = 5
	sqliteLocked = 6
)

// IsUnavailable reports whether err means the database cannot serve the request now, though it
// may in a moment: a lost or refused connection, a server shutting down or starting up, too many
// connections, a lock held by another process past the busy timeout, or the request's deadline
// passing while it waited. Callers answer 503 with Retry-After rather than 500.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var (
		pqErr  *pq.Error
		sqlErr *sqlite.Error
		netErr net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &pqErr):
		switch pqErr.Code.Class() {
		case "08", // connection exception
			"53", // insufficient resources (too many connections, out of memory)
			"57": // operator intervention (shutdown, restart, statement timeout)
			return true
		}
		return pqErr.Code == "40001" || pqErr.Code == "40P01" // serialization failure, deadlock: retry
	case errors.As(err, &sqlErr):
		code := sqlErr.Code() & 0xff
		return code == sqliteBusy || code == sqliteLocked
	case errors.As(err, &netErr):
		return true
	}
	return false
}
