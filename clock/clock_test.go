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
