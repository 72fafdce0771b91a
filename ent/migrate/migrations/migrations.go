// Package migrations holds the versioned migrations of the database, one directory per dialect
// in Atlas's format: <version>_<name>.sql files applied in version order, and atlas.sum, the
// checksums that tie them together. ent/migrategen.go writes them from the ent schema (go
// generate); they are reviewed as SQL and never edited once released. The server embeds them.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
)

//go:embed sqlite/*.sql sqlite/atlas.sum postgres/*.sql postgres/atlas.sum
var files embed.FS

// Dir returns the migration directory of an ent dialect (dialect.SQLite or dialect.Postgres).
func Dir(d string) (migrate.Dir, error) {
	var name string
	switch d {
	case dialect.SQLite:
		name = "sqlite"
	case dialect.Postgres:
		name = "postgres"
	default:
		return nil, fmt.Errorf("no migrations for dialect %q", d)
	}
	entries, err := fs.ReadDir(files, name)
	if err != nil {
		return nil, err
	}
	dir := &migrate.MemDir{}
	for _, e := range entries {
		b, err := fs.ReadFile(files, name+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	return dir, nil
}
