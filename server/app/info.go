package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/inferiallm/orgserver/graph/generated"
	"github.com/inferiallm/orgserver/graph/schemacheck"
)

// versionCommand prints what the binary was built from, as the Go toolchain recorded it.
func versionCommand(_ context.Context, _ Config, p Process) error {
	module, version, revision, at, goVersion := "github.com/inferiallm/orgserver", "unknown", "unknown", "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path != "" {
			module = bi.Main.Path
		}
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		goVersion = bi.GoVersion
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified {
			revision += " (modified)"
		}
	}
	fmt.Fprintf(p.Stdout, "module    %s %s\nrevision  %s\ntime      %s\ngo        %s\n", module, version, revision, at, goVersion)
	return nil
}

// schemaCommand prints the GraphQL schema the server executes, as SDL.
func schemaCommand(_ context.Context, _ Config, p Process) error {
	_, err := io.WriteString(p.Stdout, schemacheck.Print(generated.NewExecutableSchema(generated.Config{}).Schema()))
	return err
}

// healthcheckTimeout bounds the whole health check.
const healthcheckTimeout = 5 * time.Second

// healthcheckCommand asks the server at the configured listen address whether it is ready: the
// check of a container image that has no curl.
func healthcheckCommand(ctx context.Context, cfg Config, p Process) error {
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	url := "http://" + probeAddr(cfg.Addr) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The server is local: no proxy from the environment.
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(p.Stdout, "ready: %s\n", strings.TrimSpace(string(body)))
	return nil
}

// probeAddr is where a process on the same host reaches a server listening on addr: the
// loopback address when addr listens on every address.
func probeAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" {
		host = "127.0.0.1"
	} else if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.Is6() {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}
