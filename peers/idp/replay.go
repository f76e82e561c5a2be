package idp

import (
	"container/heap"
	"sync"
	"time"

	"github.com/crewjam/saml"
)

// replayCache records the IDs of answered requests until they would
// expire anyway, and refuses them a second time. Its times are the SAML
// messages' own (IssueInstant plus crewjam's MaxIssueDelay), on the
// host's real clock as those timestamps are.
type replayCache struct {
	mu      sync.Mutex
	expires map[string]time.Time
	order   expiryHeap[string]
}

func newReplayCache() *replayCache { return &replayCache{expires: map[string]time.Time{}} }

// Consume implements saml.AssertionReplayCache.
func (c *replayCache) Consume(key string, expiresAt time.Time) error {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.order.Len() > 0 && !c.order.items[0].at.After(now) {
		old := heap.Pop(&c.order).(expiryItem[string])
		if c.expires[old.v].Equal(old.at) {
			delete(c.expires, old.v)
		}
	}
	if at, ok := c.expires[key]; ok && at.After(now) {
		return saml.ErrAssertionReplayed
	}
	c.expires[key] = expiresAt
	heap.Push(&c.order, expiryItem[string]{at: expiresAt, v: key})
	return nil
}

// seen says whether key is recorded and not expired.
func (c *replayCache) seen(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.expires[key]
	return ok && at.After(time.Now())
}

// expiryHeap orders things by when they expire, the first on top.
type expiryHeap[T any] struct{ items []expiryItem[T] }

type expiryItem[T any] struct {
	at time.Time
	v  T
}

func (h *expiryHeap[T]) Len() int           { return len(h.items) }
func (h *expiryHeap[T]) Less(i, j int) bool { return h.items[i].at.Before(h.items[j].at) }
func (h *expiryHeap[T]) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *expiryHeap[T]) Push(x any)         { h.items = append(h.items, x.(expiryItem[T])) }
func (h *expiryHeap[T]) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}
