package clock

import (
	"testing"
	"time"
)

func TestSetAndAdvance(t *testing.T) {
	c := New(time.UTC)
	c.SetDate(2025, time.September, 23)
	c.SetTimeOfDay(17, 18, 33)
	now := c.Now()
	if now.Year() != 2025 || now.Month() != time.September || now.Day() != 23 || now.Hour() != 17 || now.Minute() != 18 {
		t.Fatalf("clock at %v", now)
	}
	c.Advance(6 * time.Minute)
	if got := c.Now().Sub(now); got < 6*time.Minute || got > 6*time.Minute+time.Second {
		t.Fatalf("advanced by %v", got)
	}
}

func TestTimersFollowTheClock(t *testing.T) {
	c := New(time.UTC)
	fired := make(chan string, 3)
	c.AfterFunc(6*time.Minute, func() { fired <- "keylife" })
	c.AfterFunc(20*time.Second, func() { fired <- "dpd" })
	stopped := c.AfterFunc(time.Minute, func() { fired <- "stopped" })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer")
	}
	c.Advance(30 * time.Second)
	if got := <-fired; got != "dpd" {
		t.Fatalf("first %s", got)
	}
	select {
	case got := <-fired:
		t.Fatalf("%s fired early", got)
	case <-time.After(50 * time.Millisecond):
	}
	c.Advance(6 * time.Minute)
	select {
	case got := <-fired:
		if got != "keylife" {
			t.Fatalf("got %s", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("keylife did not fire after the clock passed it")
	}
	if c.Pending() != 0 {
		t.Fatalf("%d timers pending", c.Pending())
	}
	// Real time still counts.
	c.AfterFunc(10*time.Millisecond, func() { fired <- "real" })
	select {
	case <-fired:
	case <-time.After(2 * time.Second):
		t.Fatal("a timer did not fire in real time")
	}
}

// Advance fires the timers due on the way in order, each with the clock
// at its deadline, those they arm included.
func TestAdvanceStepsThroughTimers(t *testing.T) {
	c := New(time.UTC)
	start := c.Now()
	var fired []time.Duration
	c.AfterFunc(3*time.Minute, func() { fired = append(fired, c.Now().Sub(start)) })
	c.AfterFunc(time.Minute, func() {
		fired = append(fired, c.Now().Sub(start))
		c.AfterFunc(time.Minute, func() { fired = append(fired, c.Now().Sub(start)) })
	})
	late := c.AfterFunc(10*time.Minute, func() { t.Error("a timer beyond the advance fired") })
	c.Advance(5 * time.Minute)
	want := []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute}
	if len(fired) != len(want) {
		t.Fatalf("fired at %v", fired)
	}
	for i, w := range want {
		if d := fired[i] - w; d < 0 || d > 100*time.Millisecond {
			t.Errorf("timer %d fired at %v, want its deadline %v", i, fired[i], w)
		}
	}
	if d := c.Now().Sub(start) - 5*time.Minute; d < 0 || d > 100*time.Millisecond {
		t.Errorf("after Advance(5m) the clock is at +%v", c.Now().Sub(start))
	}
	late.Stop()
}

// Many timers fire in deadline order (equal deadlines in creation order)
// in one Advance, stopped ones not at all.
func TestAdvanceManyInOrder(t *testing.T) {
	c := New(time.UTC)
	const n = 10000
	var fired []int
	var timers []*Timer
	for i := range n {
		d := time.Duration((i*7919)%1000) * time.Second
		timers = append(timers, c.AfterFunc(time.Hour+d, func() { fired = append(fired, i) }))
	}
	for i := 0; i < n; i += 10 {
		timers[i].Stop()
	}
	c.Advance(3 * time.Hour)
	if len(fired) != n-n/10 || c.Pending() != 0 {
		t.Fatalf("fired %d, pending %d", len(fired), c.Pending())
	}
	key := func(i int) (int, int) { return (i * 7919) % 1000, i }
	for k := 1; k < len(fired); k++ {
		a1, b1 := key(fired[k-1])
		a2, b2 := key(fired[k])
		if a1 > a2 || a1 == a2 && b1 > b2 {
			t.Fatalf("out of order at %d: %d then %d", k, fired[k-1], fired[k])
		}
	}
}

// BenchmarkAdvance100k: one Advance through 100,000 timers.
func BenchmarkAdvance100k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		c := New(time.UTC)
		for i := range 100000 {
			c.AfterFunc(time.Minute+time.Duration(i)*time.Millisecond, func() {})
		}
		b.StartTimer()
		c.Advance(time.Hour)
	}
}
