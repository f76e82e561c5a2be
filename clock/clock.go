// Package clock is the appliance clock: real time plus an offset that
// "execute date", "execute time" and lab fast-forwards change. Every timer
// of the appliance reads it, so tests and labs can move time.
package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Clock is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
	loc    *time.Location
	real   func() time.Time
	timers timerHeap // pending timers, the first due on top
	seq    uint64
}

// New returns a clock at real time in loc (time.Local when nil).
func New(loc *time.Location) *Clock {
	if loc == nil {
		loc = time.Local
	}
	return &Clock{loc: loc, real: time.Now}
}

// Now is the appliance time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.real().Add(c.offset).In(c.loc)
}

// Set moves the clock to t; it runs on from there.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = t.Sub(c.real())
	c.reschedule()
}

// maxStepped bounds the timers one Advance fires (a timer that re-arms
// itself with no delay would otherwise never let it finish).
const maxStepped = 1_000_000

// Advance moves the clock forward by d. The timers due on the way fire in
// deadline order, each with the clock at its deadline, on this goroutine
// before Advance returns: what they log is stamped with their due time, as
// if the appliance had run through those minutes, and timers they arm on
// the way fire in turn.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.real().Add(c.offset).Add(d)
	for range maxStepped {
		t := c.nextDue(target)
		if t == nil {
			break
		}
		if now := c.real().Add(c.offset); t.deadline.After(now) {
			c.offset = t.deadline.Sub(c.real())
		}
		t.done = true
		t.real.Stop()
		heap.Remove(&c.timers, t.index)
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	if now := c.real().Add(c.offset); target.After(now) {
		c.offset = target.Sub(c.real())
	}
	c.reschedule()
}

// nextDue is the pending timer due first at or before target; called with
// c.mu held.
func (c *Clock) nextDue(target time.Time) *Timer {
	if len(c.timers) == 0 || c.timers[0].deadline.After(target) {
		return nil
	}
	return c.timers[0]
}

// timerHeap orders timers by deadline, then creation (container/heap).
type timerHeap []*Timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].deadline.Equal(h[j].deadline) {
		return h[i].deadline.Before(h[j].deadline)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

// SetDate keeps the time of day and changes the date ("execute date").
func (c *Clock) SetDate(year int, month time.Month, day int) {
	now := c.Now()
	c.Set(time.Date(year, month, day, now.Hour(), now.Minute(), now.Second(), now.Nanosecond(), now.Location()))
}

// SetTimeOfDay keeps the date and changes the time ("execute time").
func (c *Clock) SetTimeOfDay(hour, min, sec int) {
	now := c.Now()
	c.Set(time.Date(now.Year(), now.Month(), now.Day(), hour, min, sec, 0, now.Location()))
}

// Timer is a timer on the appliance clock.
type Timer struct {
	c        *Clock
	seq      uint64 // creation order: equal deadlines fire in it
	deadline time.Time
	f        func()
	real     *time.Timer
	done     bool
	index    int // in the clock's heap while pending
}

// AfterFunc calls f in its own goroutine once the appliance clock reaches
// now+d: after d of real time, or at once when the clock is moved past it
// (Set, Advance). Keylife, DPD and session timers all use it, so a lab can
// fast-forward through them.
func (c *Clock) AfterFunc(d time.Duration, f func()) *Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &Timer{c: c, seq: c.seq, deadline: c.real().Add(c.offset).Add(d), f: f}
	heap.Push(&c.timers, t)
	t.real = time.AfterFunc(d, t.fire)
	return t
}

// Stop cancels the timer; it reports whether the timer had not fired yet.
func (t *Timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	t.real.Stop()
	heap.Remove(&t.c.timers, t.index)
	return true
}

// fire runs f unless the timer was stopped or the clock was moved back
// (then it is re-armed for the remaining time).
func (t *Timer) fire() {
	c := t.c
	c.mu.Lock()
	if t.done {
		c.mu.Unlock()
		return
	}
	if left := t.deadline.Sub(c.real().Add(c.offset)); left > 0 {
		t.real.Reset(left)
		c.mu.Unlock()
		return
	}
	t.done = true
	heap.Remove(&c.timers, t.index)
	c.mu.Unlock()
	t.f()
}

// reschedule re-arms every pending timer after the clock moved; called with
// c.mu held.
func (c *Clock) reschedule() {
	now := c.real().Add(c.offset)
	for _, t := range c.timers {
		left := t.deadline.Sub(now)
		if left < 0 {
			left = 0
		}
		t.real.Reset(left)
	}
}

// Pending is the number of timers not yet fired or stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
