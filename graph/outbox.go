package graph

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// E-mail leaves through a bounded outbox: a queue of outboxSize messages and outboxWorkers
// senders. A burst of invitations costs memory in proportion to the queue, not to the burst, a
// slow or unreachable SMTP server never holds a request, and a full queue is logged rather than
// growing. Nothing is lost for good: an invitation whose e-mail was dropped stays visible to
// inviters with its link, and resending it mails it again.
const (
	outboxSize    = 1000
	outboxWorkers = 2
	// mailTimeout bounds one delivery.
	mailTimeout = 30 * time.Second
)

type outgoing struct {
	ctx context.Context
	// what the message is ("invitation", "password reset"), and the id of its subject, for the log.
	what    string
	id      uuid.UUID
	deliver func(context.Context) error
}

type outbox struct {
	svc    *Service
	queue  chan outgoing
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newOutbox(s *Service) *outbox {
	o := &outbox{svc: s, queue: make(chan outgoing, outboxSize)}
	for range outboxWorkers {
		o.wg.Add(1)
		go o.work()
	}
	return o
}

// send queues an invitation e-mail.
func (o *outbox) send(ctx context.Context, msg InvitationMail, invitationID uuid.UUID) {
	o.deliver(ctx, "invitation", invitationID, func(ctx context.Context) error {
		return o.svc.Mailer.SendInvitation(ctx, msg)
	})
}

// deliver queues an e-mail that deliver sends; with the queue full or closed, it logs and drops
// it. what and id name the message in the log.
func (o *outbox) deliver(ctx context.Context, what string, id uuid.UUID, deliver func(context.Context) error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		select {
		case o.queue <- outgoing{ctx: ctx, what: what, id: id, deliver: deliver}:
			return
		default:
		}
	}
	o.svc.Logger.ErrorContext(ctx, what+" e-mail not sent: the outbox is full or closed; send it again",
		"subject_id", id.String())
}

func (o *outbox) work() {
	defer o.wg.Done()
	for m := range o.queue {
		ctx, cancel := context.WithTimeout(m.ctx, mailTimeout)
		if err := m.deliver(ctx); err != nil {
			o.svc.Logger.ErrorContext(ctx, "sending "+m.what+" e-mail", "err", err, "subject_id", m.id.String())
		}
		cancel()
	}
}

// close stops taking messages and waits until the queued ones are sent, or ctx ends.
func (o *outbox) close(ctx context.Context) error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.queue)
	}
	o.mu.Unlock()
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
