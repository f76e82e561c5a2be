package iked

import "testing"

func TestReplayWindow(t *testing.T) {
	var w replayWindow
	steps := []struct {
		seq  uint32
		want bool
	}{
		{0, false}, {1, true}, {1, false}, {3, true}, {2, true}, {2, false},
		{100, true}, {36, false}, {37, true}, {37, false}, {99, true}, {100, false},
		{1000, true}, {937, true}, {936, false},
	}
	for i, s := range steps {
		got := w.fresh(s.seq)
		if got != s.want {
			t.Fatalf("step %d: seq %d fresh=%v, want %v", i, s.seq, got, s.want)
		}
		if got {
			w.accept(s.seq)
		}
	}
}
