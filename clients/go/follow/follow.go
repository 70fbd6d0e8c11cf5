// Package follow streams a hubbus subject pattern and survives reconnects:
// it remembers the last sequence it handed over and, when the stream breaks
// (gateway restart, network drop), subscribes again with after_sequence set
// to it, so the events stored in between are replayed first and none is
// missed or repeated.
package follow

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hubbusv1 "hubbus/clients/go/gen/hubbus/v1"
)

// Options of Follow.
type Options struct {
	// Pattern is the subject pattern (NATS wildcards * and >).
	Pattern string
	// After is the sequence to resume after: every stored matching event
	// after it comes first. Nil means "from now": Follow asks QueryEvents for
	// the newest matching event and resumes after that, so even the first
	// stream has a cursor and a reconnect before any event loses nothing.
	After *uint64
	// OnDisconnect, when set, is called each time the stream breaks, before
	// Follow subscribes again, with the error and the last sequence handled.
	// Follow waits for it to return.
	OnDisconnect func(err error, last uint64)
}

// Handler receives each event once, in sequence order. An error from it ends
// Follow with that error.
type Handler func(event *hubbusv1.Event) error

// Follow subscribes to opts.Pattern and calls handle for every event until
// ctx ends (then it returns ctx.Err()), handle fails, or the gateway refuses
// the subscription for a reason a retry cannot fix (invalid_argument,
// permission_denied, out_of_range, …). Reconnects wait for the connection
// to be ready (grpc.WaitForReady), paced by the ClientConn's backoff.
// Per-call metadata such as an authorization header goes in ctx.
func Follow(ctx context.Context, client hubbusv1.EventBusServiceClient, opts Options, handle Handler) error {
	var last uint64
	if opts.After != nil {
		last = *opts.After
	} else {
		newest, err := client.QueryEvents(ctx, &hubbusv1.QueryEventsRequest{Subject: opts.Pattern, Limit: 1}, grpc.WaitForReady(true))
		if err != nil {
			return err
		}
		if len(newest.Events) > 0 {
			last = newest.Events[0].Sequence
		}
	}
	for {
		err := stream(ctx, client, opts.Pattern, &last, handle)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var failed handlerError
		if errors.As(err, &failed) {
			return failed.err
		}
		if !retryable(err) {
			return err
		}
		if opts.OnDisconnect != nil {
			opts.OnDisconnect(err, last)
		}
	}
}

// stream runs one Subscribe call from *last, advancing *last per event handled.
func stream(ctx context.Context, client hubbusv1.EventBusServiceClient, pattern string, last *uint64, handle Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // releases the server's subscription when we stop reading
	after := *last
	sub, err := client.Subscribe(ctx, &hubbusv1.SubscribeRequest{Subject: pattern, AfterSequence: &after}, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	for {
		res, err := sub.Recv()
		if err != nil {
			return err
		}
		if err := handle(res.Event); err != nil {
			return handlerError{err}
		}
		*last = res.Event.Sequence
	}
}

// handlerError keeps a handler's own error from being mistaken for a broken stream.
type handlerError struct{ err error }

func (h handlerError) Error() string { return h.err.Error() }
func (h handlerError) Unwrap() error { return h.err }

// retryable: the gateway went away (shutdown ends streams with unavailable;
// a killed process or dropped link shows as unavailable or a plain end of
// stream). Everything else is the caller's to see.
func retryable(err error) bool {
	if errors.Is(err, io.EOF) {
		return true
	}
	return status.Code(err) == codes.Unavailable
}
