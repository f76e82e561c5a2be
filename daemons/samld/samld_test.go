package samld

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// The request and replay tables stay within their bound: a full table
// first drops what expired, else the entry that expires soonest.
func TestMakeRoom(t *testing.T) {
	now := labStart
	at := func(min int) time.Time { return now.Add(time.Duration(min) * time.Minute) }
	m := map[string]time.Time{"late": at(9), "soon": at(2), "mid": at(5)}
	expiry := func(t time.Time) time.Time { return t }
	makeRoom(m, 4, expiry, now)
	if len(m) != 3 {
		t.Fatalf("below the bound: %v", m)
	}
	makeRoom(m, 3, expiry, now)
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, []string{"late", "mid"}) {
		t.Fatalf("full, none expired: kept %v, want the soonest gone", got)
	}
	m["gone"], m["gone2"] = at(-1), now
	makeRoom(m, 4, expiry, now)
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, []string{"late", "mid"}) {
		t.Fatalf("full with expired entries: kept %v, want only the expired gone", got)
	}
}
