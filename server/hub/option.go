package hub

import "time"

// Options configure a Hub.
type Options struct {
	// Shards is the number of independently locked subscriber lists
	// (default 256).
	Shards int
	// Topics are the topic names subscribers may ask for (at most 64).
	Topics []string
	// QueueLimit bounds the messages waiting unsent for one subscriber
	// (default 4096): memory, not a verdict. A subscriber at the limit holds
	// the publisher back until it drains or becomes slow by age.
	QueueLimit int
	// SlowAfter is how long a message may wait unsent, while the
	// subscriber's socket refuses more, before it is closed as slow
	// (default 10s).
	SlowAfter time.Duration
	// SlowCloseTimeout bounds the attempt to send the close frame to a slow
	// subscriber (default 5s); after it the socket is simply closed.
	SlowCloseTimeout time.Duration
	// CatchUpBuffer bounds the live messages held for one subscriber while
	// it reads its backlog (default 4096); past it they are dropped and the
	// backlog read again, from where it got to.
	CatchUpBuffer int
	// OnError, if set, is told why a frame could not be encoded
	// (gws.ErrTextEncoding for invalid UTF-8, gws.ErrMessageTooLarge).
	OnError func(err error)
}

// Defaults for the zero values of Options, declared once: New applies them
// and the server's flags (server/app) start from them.
const (
	// DefaultShards is the number of independently locked subscriber lists.
	DefaultShards = 256
	// DefaultQueueLimit bounds the messages queued unsent for one subscriber.
	DefaultQueueLimit = 4096
	// DefaultSlowAfter is how long a message may wait unsent, while the
	// subscriber's socket refuses more, before it is closed as slow.
	DefaultSlowAfter = 10 * time.Second
	// DefaultSlowCloseTimeout bounds sending the close frame to a slow
	// subscriber.
	DefaultSlowCloseTimeout = 5 * time.Second
	// DefaultCatchUpBuffer bounds the live messages held for a subscriber
	// while it reads its backlog.
	DefaultCatchUpBuffer = 4096
	// MaxTopics is the most topics a hub serves (a subscriber's topics are
	// a 64-bit mask).
	MaxTopics = 64
)

// withDefaults fills the zero (or negative) values of o.
func (o Options) withDefaults() Options {
	if o.Shards <= 0 {
		o.Shards = DefaultShards
	}
	if o.QueueLimit <= 0 {
		o.QueueLimit = DefaultQueueLimit
	}
	if o.SlowAfter <= 0 {
		o.SlowAfter = DefaultSlowAfter
	}
	if o.SlowCloseTimeout <= 0 {
		o.SlowCloseTimeout = DefaultSlowCloseTimeout
	}
	if o.CatchUpBuffer <= 0 {
		o.CatchUpBuffer = DefaultCatchUpBuffer
	}
	return o
}
