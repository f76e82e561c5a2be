// Package clock is the appliance clock: real time plus an offset that
// "execute date", "execute time" and lab fast-forwards change. Every timer
// of the appliance reads it, so tests and labs can move time.
package clock

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
	loc    *time.Location
	real   func() time.Time
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
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
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
