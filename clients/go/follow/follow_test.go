package follow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"hubbus/clients/go/follow"
	hubbusv1 "hubbus/clients/go/gen/hubbus/v1"
	"hubbus/clients/go/internal/gateway"
)

// callTimeout bounds every wait of these tests: an event that never comes
// fails the test instead of hanging it.
const callTimeout = 20 * time.Second

func startGateway(t *testing.T, port int, dir string) *gateway.Gateway {
	t.Helper()
	g, err := gateway.Start(port, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	return g
}

func dial(t *testing.T, addr string) hubbusv1.EventBusServiceClient {
	t.Helper()
	conn, err := grpc.Dial(addr, grpc.WithInsecure(),
		// A restarted gateway is back within seconds: retry the link at
		// most every 500 ms rather than grpc's default of up to 2 minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond},
			MinConnectTimeout: 2 * time.Second,
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hubbusv1.NewEventBusServiceClient(conn)
}

func payload(t *testing.T, fields map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(fields)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func publish(t *testing.T, client hubbusv1.EventBusServiceClient, subject string, n int) *hubbusv1.PublishResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	// WaitForReady: after a restart the connection may still be redialling.
	res, err := client.Publish(ctx, &hubbusv1.PublishRequest{Subject: subject, Payload: payload(t, map[string]any{"n": n})}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	return res
}

func TestPublishAndQuery(t *testing.T) {
	port, err := gateway.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, port, t.TempDir())
	client := dial(t, g.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()

	first, err := client.Publish(ctx, &hubbusv1.PublishRequest{
		Subject:       "project.created",
		Payload:       payload(t, map[string]any{"project_id": "p-1", "tags": []any{"a", "b"}}),
		CorrelationId: "go-client-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Published || first.Subject != "hub.local-hub.project.created" || first.CorrelationId != "go-client-1" || first.Sequence != 1 || first.EventId == "" {
		t.Fatalf("publish answered %v", first)
	}
	second := publish(t, client, "hub.local-hub.project.started", 2)
	publish(t, client, "hub.local-hub.billing.paid", 3)

	res, err := client.QueryEvents(ctx, &hubbusv1.QueryEventsRequest{Subject: "hub.*.project.>", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 2 || len(res.Events) != 2 {
		t.Fatalf("query found %d events (count %d), want the 2 project events", len(res.Events), res.Count)
	}
	newest, oldest := res.Events[0], res.Events[1]
	if newest.Sequence != second.Sequence || oldest.Id != first.EventId {
		t.Fatalf("query is not newest first: %v", res.Events)
	}
	if got := oldest.Payload.AsMap(); got["project_id"] != "p-1" || len(got["tags"].([]any)) != 2 {
		t.Fatalf("payload came back as %v", got)
	}
	if oldest.Origin.GetHubId() != "local-hub" || oldest.CorrelationId != "go-client-1" || oldest.Timestamp.AsTime().IsZero() {
		t.Fatalf("stored event is %v", oldest)
	}

	_, err = client.Publish(ctx, &hubbusv1.PublishRequest{Subject: "hub.local-hub.ping"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "hub.local-hub.ping") {
		t.Fatalf("a three-token subject gave %v, want invalid_argument naming it", err)
	}
}

// The acceptance scenario: subscribe, the gateway restarts, the subscriber
// resumes from the last sequence it saw, and gets every event exactly once:
// the ones stored while it was away (replayed) and the live ones after.
func TestFollowResumesAfterRestart(t *testing.T) {
	port, err := gateway.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first := startGateway(t, port, dir)
	client := dial(t, first.Addr())

	// Stored before the subscription: Follow must replay them from After=0.
	for n := 1; n <= 3; n++ {
		publish(t, client, "project.created", n)
	}
	publish(t, client, "billing.paid", 0) // not matched by the pattern

	events := make(chan *hubbusv1.Event, 100)
	disconnected := make(chan uint64, 1)
	reconnect := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	zero := uint64(0)
	go func() {
		done <- follow.Follow(ctx, client, follow.Options{
			Pattern: "hub.*.project.>",
			After:   &zero,
			// Holds the reconnect until the test has stored events the
			// subscriber cannot have seen live.
			OnDisconnect: func(_ error, last uint64) {
				disconnected <- last
				select {
				case <-reconnect:
				case <-ctx.Done(): // the test failed before releasing it
				}
			},
		}, func(e *hubbusv1.Event) error {
			events <- e
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Follow ended with %v, want context.Canceled", err)
		}
	})

	var got []uint64
	take := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			select {
			case e := <-events:
				if !strings.HasPrefix(e.Subject, "hub.local-hub.project.") {
					t.Fatalf("got %s, which the pattern does not match", e.Subject)
				}
				got = append(got, e.Sequence)
			case err := <-done:
				t.Fatalf("Follow ended early: %v (have %v)", err, got)
			case <-time.After(callTimeout):
				t.Fatalf("no event within %s (have %v)\n%s", callTimeout, got, first.Output())
			}
		}
	}
	take(3)
	live := publish(t, client, "project.started", 4)
	take(1)
	if got[len(got)-1] != live.Sequence {
		t.Fatalf("live event %d not delivered, got %v", live.Sequence, got)
	}

	first.Stop()
	var last uint64
	select {
	case last = <-disconnected:
	case <-time.After(callTimeout):
		t.Fatal("the stream did not end when the gateway stopped")
	}
	if last != live.Sequence {
		t.Fatalf("Follow remembered %d, want %d", last, live.Sequence)
	}

	second := startGateway(t, port, dir)
	// Stored while the subscriber is away: only a resume from `last` can bring them.
	missed := []uint64{
		publish(t, client, "project.updated", 5).Sequence,
		publish(t, client, "project.updated", 6).Sequence,
	}
	close(reconnect)
	take(2)
	// Live after the resume, and from another protocol (JSON-RPC).
	seq, err := second.PublishJSONRPC("project.closed", map[string]any{"n": 7})
	if err != nil {
		t.Fatal(err)
	}
	take(1)

	want := []uint64{1, 2, 3, live.Sequence, missed[0], missed[1], seq}
	if len(got) != len(want) {
		t.Fatalf("got sequences %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got sequences %v, want %v (a gap or a duplicate)", got, want)
		}
	}
	select {
	case e := <-events:
		t.Fatalf("an extra event arrived: %d", e.Sequence)
	default:
	}
}
