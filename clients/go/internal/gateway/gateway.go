// Package gateway runs a real hubbus gateway (`hubbus serve` from this
// repository's sources, through tsx) for the Go client's tests: embedded
// defaults, a SQLite file in a directory the test owns, no NATS (the
// in-process bus).
package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// startTimeout bounds how long `hubbus serve` may take to answer /healthz
// (tsx compiles the sources on start; a loaded machine takes seconds).
const startTimeout = 30 * time.Second

// Gateway is one running `hubbus serve` process.
type Gateway struct {
	Port   int
	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{}
}

// Addr is host:port for grpc.Dial.
func (g *Gateway) Addr() string { return "127.0.0.1:" + strconv.Itoa(g.Port) }

// Output is what the gateway wrote so far, for failure messages.
func (g *Gateway) Output() string { return g.output.String() }

// Root finds the repository: HUBBUS_ROOT, else the first parent of the
// working directory (symlinks resolved, as GOPATH mode reaches this package
// through one) that holds src/cli/main.ts.
func Root() (string, error) {
	if root := os.Getenv("HUBBUS_ROOT"); root != "" {
		return root, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	dir, err := filepath.EvalSymlinks(wd)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "src/cli/main.ts")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no hubbus repository above %s: set HUBBUS_ROOT", wd)
		}
		dir = parent
	}
}

// FreePort is a TCP port nothing listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs `hubbus serve` on port with its log in dataDir/hub.db and waits
// until /healthz answers. Starting again on the same port and dataDir is a
// restart: the same log, the same address.
func Start(port int, dataDir string) (*Gateway, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	node := os.Getenv("NODE")
	if node == "" {
		node = "node"
	}
	cmd := exec.Command(node, "--import", "tsx", "src/cli/main.ts", "serve")
	cmd.Dir = root
	// A clean environment: the embedded defaults, whatever the caller's shell holds.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"PORT=" + strconv.Itoa(port),
		"DATABASE_URL=sqlite:" + filepath.Join(dataDir, "hub.db"),
		"LOG_LEVEL=warn",
	}
	out := &lockedBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &Gateway{Port: port, cmd: cmd, output: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(g.exited)
	}()
	if err := g.waitHealthy(); err != nil {
		_ = cmd.Process.Kill()
		<-g.exited
		return nil, fmt.Errorf("%w\n--- gateway output ---\n%s", err, out.String())
	}
	return g, nil
}

func (g *Gateway) waitHealthy() error {
	client := &http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://%s/healthz", g.Addr())
	deadline := time.Now().Add(startTimeout)
	// Polls the event itself (the gateway answering), paced so as not to
	// spin a core the gateway needs to start.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-g.exited:
			return fmt.Errorf("hubbus serve exited before answering /healthz")
		case <-tick.C:
		}
		if res, err := client.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("hubbus serve did not answer %s within %s", url, startTimeout)
		}
	}
}

// Stop sends SIGTERM (a clean shutdown: streams end with unavailable) and
// waits for the process, killing it if it has not gone after 10 s.
func (g *Gateway) Stop() {
	select {
	case <-g.exited:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
}

// PublishJSONRPC publishes over POST /rpc (bus.publish), as curl would:
// another protocol's event must reach a gRPC subscriber all the same.
func (g *Gateway) PublishJSONRPC(topic string, payload map[string]any) (uint64, error) {
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": 1, "method": "bus.publish",
		"params": map[string]any{"topic": topic, "payload": payload},
	})
	res, err := http.Post(fmt.Sprintf("http://%s/rpc", g.Addr()), "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var answer struct {
		Result *struct {
			Sequence uint64 `json:"sequence"`
		} `json:"result"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&answer); err != nil {
		return 0, err
	}
	if answer.Error != nil || answer.Result == nil {
		return 0, fmt.Errorf("bus.publish failed: %+v", answer.Error)
	}
	return answer.Result.Sequence, nil
}

// lockedBuffer is the process's output, written by exec's copier goroutines
// and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const max = 64 * 1024
	if b.buf.Len() > max {
		tail := b.buf.Bytes()[b.buf.Len()-max/2:]
		b.buf = *bytes.NewBuffer(append([]byte(nil), tail...))
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
