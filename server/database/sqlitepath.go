package database

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SQLite reports every file it cannot open as "unable to open database file (14)", without the
// path or the reason. These name both: the directory that is missing or closed to this user,
// the file that is read-only, the file system mounted read-only.

// checkSQLitePath refuses, before SQLite tries, a path whose directory does not exist or is
// not a directory, or that is itself a directory.
func checkSQLitePath(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("SQLite database %s: directory %s does not exist (create it, or set DATABASE_URL to a file in a directory that exists)", path, dir)
	case err != nil:
		return fmt.Errorf("SQLite database %s: directory %s: %s", path, dir, reason(err))
	case !fi.IsDir():
		return fmt.Errorf("SQLite database %s: %s is not a directory", path, dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("SQLite database %s is a directory, not a file", path)
	}
	return nil
}

// sqliteOpenError explains why SQLite could not open path, when a probe finds out.
func sqliteOpenError(path string, err error) error {
	if why := sqliteWhy(path); why != "" {
		return fmt.Errorf("opening SQLite database %s: %s (%w)", path, why, err)
	}
	return fmt.Errorf("opening SQLite database %s: %w", path, err)
}

// sqliteWhy probes what SQLite needs besides an existing directory: to read and write the file,
// and to create files beside it (the database itself on the first start, its -wal and -shm
// files on every start). It runs only after SQLite failed, so a healthy start creates nothing.
func sqliteWhy(path string) string {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Sprintf("directory %s: %s", dir, reason(err))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "the file cannot be opened for reading and writing: " + reason(err)
	}
	probe, err := os.CreateTemp(dir, ".inferia-probe-*")
	if err != nil {
		return fmt.Sprintf("cannot create files in directory %s, as SQLite must for the database and its -wal and -shm files: %s", dir, reason(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return ""
}

// reason is what went wrong with a file, without the path the caller names already, and, when
// permission was denied, who was denied (in a container, usually a user the image chose).
func reason(err error) string {
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	if errors.Is(err, fs.ErrPermission) && os.Getuid() >= 0 {
		msg += fmt.Sprintf(" for user id %d", os.Getuid())
	}
	return msg
}
