package hub

import "time"

// Defaults for the zero values of Options, declared once: New applies them
// and the server's flags (server/app) start from them.
const (
	// DefaultShards is the number of independently locked subscriber lists.
	DefaultShards = 256
	// DefaultQueueLimit bounds the messages queued unsent for one subscriber.
	DefaultQueueLimit = 4096
	// DefaultSlowAfter is how long a message may wait unsent before its
	// subscriber is closed as slow.
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
