package main_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"hubbus/clients/go/internal/gateway"
)

// The README's example runs as a user would run it, against a real gateway.
func TestExampleRuns(t *testing.T) {
	port, err := gateway.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.Start(port, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// `go run` in the environment `go test` got (GOPATH mode, scripts/go-env.sh).
	out, err := exec.CommandContext(ctx, "go", "run", "hubbus/clients/go/cmd/example", "-addr", g.Addr(), "-n", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("example failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"published hub.local-hub.project.created as sequence 1",
		"1 newest stored events for hub.*.project.>:",
		"event #1 hub.local-hub.project.created map[from:go-example project_id:p-1]",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("example output lacks %q:\n%s", want, out)
		}
	}
}
