// Command example publishes an event, queries the stored ones and then
// follows a pattern live, resuming after the last sequence it printed when
// the gateway restarts (stop and start `hubbus serve` while it runs).
//
//	example -addr 127.0.0.1:9001 -pattern 'hub.*.project.>' [-n 3]
//
// HUBBUS_TOKEN, when set, is sent as a bearer token (gateways with AUTH_FILE).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"hubbus/clients/go/follow"
	hubbusv1 "hubbus/clients/go/gen/hubbus/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "gateway host:port (gRPC over HTTP/2 cleartext)")
	pattern := flag.String("pattern", "hub.*.project.>", "subject pattern to query and follow")
	subject := flag.String("subject", "project.created", "subject to publish (without hub. it gets hub.<hub_id>. in front)")
	max := flag.Int("n", 0, "exit after following this many events (0: until interrupted)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if token := os.Getenv("HUBBUS_TOKEN"); token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}

	conn, err := grpc.Dial(*addr, grpc.WithInsecure(),
		// Redial a restarting gateway within a second, not grpc's default of up to 2 minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := hubbusv1.NewEventBusServiceClient(conn)

	payload, _ := structpb.NewStruct(map[string]any{"project_id": "p-1", "from": "go-example"})
	published, err := client.Publish(ctx, &hubbusv1.PublishRequest{Subject: *subject, Payload: payload})
	if err != nil {
		log.Fatalf("publish: %v", err)
	}
	fmt.Printf("published %s as sequence %d (event %s)\n", published.Subject, published.Sequence, published.EventId)

	stored, err := client.QueryEvents(ctx, &hubbusv1.QueryEventsRequest{Subject: *pattern, Limit: 5})
	if err != nil {
		log.Fatalf("query: %v", err)
	}
	fmt.Printf("%d newest stored events for %s:\n", stored.Count, *pattern)
	for _, e := range stored.Events {
		fmt.Printf("  #%d %s %v\n", e.Sequence, e.Subject, e.Payload.AsMap())
	}

	// Resume from just before our own event, so it is the first one followed.
	after := published.Sequence - 1
	seen := 0
	done := fmt.Errorf("followed %d events", *max)
	err = follow.Follow(ctx, client, follow.Options{
		Pattern: *pattern,
		After:   &after,
		OnDisconnect: func(err error, last uint64) {
			fmt.Printf("stream broke (%v); resuming after sequence %d\n", err, last)
		},
	}, func(e *hubbusv1.Event) error {
		fmt.Printf("event #%d %s %v\n", e.Sequence, e.Subject, e.Payload.AsMap())
		seen++
		if *max > 0 && seen >= *max {
			return done
		}
		return nil
	})
	if err != nil && err != done && err != context.Canceled {
		log.Fatalf("follow: %v", err)
	}
}
