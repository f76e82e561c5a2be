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
