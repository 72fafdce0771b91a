// Command server runs the InferiaLLM organization-management API: GraphQL at /graphql, the
// GraphiQL playground at /playground, health checks at /healthz and /readyz; and, named by
// arguments, the commands around it (migrations, administration, version, schema, health check).
//
//	go run ./server
//	go run ./server admin reset-password --email admin@example.com
//
// Configuration comes from environment variables (see go run ./server -h and the README).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/inferiallm/orgserver/server/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.RunWith(ctx, os.Args[1:], app.Process{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout}); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}
